//! Streams and events: CUDA streams from libtorch's pool and CUDA events (rust/cuda.rs), and a
//! CPU stream, like `torch.cpu.Stream`, so device-agnostic code runs unchanged on the CPU:
//! work on it is done as soon as it is issued.

use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::{Mutex, MutexGuard};

use tch::Device;

use crate::codes::{self, device_name};
use crate::cuda::{self, CudaEvent, CudaStream};
use crate::error::{Error, Result};

pub enum Stream {
    Cpu,
    Cuda(CudaStream),
}

impl Stream {
    /// A new stream on the device with ABI code `device` (-1 the CPU).
    pub fn new(device: i32) -> Result<Stream> {
        match codes::device_from_code(device)? {
            Device::Cpu => Ok(Stream::Cpu),
            _ => cuda::new_stream(device).map(Stream::Cuda),
        }
    }

    /// The calling thread's current stream on the device with ABI code `device`.
    pub fn current(device: i32) -> Result<Stream> {
        match codes::device_from_code(device)? {
            Device::Cpu => Ok(Stream::Cpu),
            _ => cuda::current(device).map(Stream::Cuda),
        }
    }

    /// The device the stream belongs to.
    pub fn device(&self) -> Device {
        match self {
            Stream::Cpu => Device::Cpu,
            Stream::Cuda(stream) => Device::Cuda(stream.device_index as usize),
        }
    }

    pub fn describe(&self) -> String {
        format!("a stream on {}", device_name(self.device()))
    }

    /// Waits until all work queued on the stream is done.
    pub fn synchronize(&self) -> Result<()> {
        match self {
            Stream::Cpu => Ok(()),
            Stream::Cuda(stream) => cuda::synchronize(stream),
        }
    }

    /// True when all work queued on the stream is done.
    pub fn query(&self) -> Result<bool> {
        match self {
            Stream::Cpu => Ok(true),
            Stream::Cuda(stream) => cuda::query(stream),
        }
    }

    /// The `cudaStream_t` of a CUDA stream; NULL for the CPU stream (and CUDA's legacy default stream).
    pub fn raw(&self) -> Result<*mut c_void> {
        match self {
            Stream::Cpu => Ok(null_mut()),
            Stream::Cuda(stream) => cuda::raw(stream),
        }
    }

    /// Makes this stream current on its device for the calling thread: libtorch queues the
    /// thread's work for that device on it.
    pub fn make_current(&self) -> Result<()> {
        match self {
            Stream::Cpu => Ok(()),
            Stream::Cuda(stream) => cuda::set_current(stream),
        }
    }

    /// Runs `body` with this stream current on its device, then restores the previous one.
    pub fn run<T>(&self, body: impl FnOnce() -> Result<T>) -> Result<T> {
        match self {
            Stream::Cpu => body(),
            Stream::Cuda(stream) => {
                let previous = cuda::current(stream.device_index)?;
                cuda::set_current(stream)?;
                let result = body();
                cuda::set_current(&previous)?;
                result
            }
        }
    }

    /// Makes work queued on this stream from now on wait for the event's recorded work; the
    /// CPU stream waits by blocking the calling thread until the event completes.
    pub fn wait_event(&self, event: &Event) -> Result<()> {
        let event = event.lock();
        match self {
            Stream::Cpu => event.synchronize(),
            Stream::Cuda(stream) => event.block(stream),
        }
    }
}

/// A CUDA event: a marker recorded on a stream, to wait for or to time the work before it.
pub struct Event(Mutex<CudaEvent>);

impl Event {
    pub fn new(enable_timing: bool) -> Result<Event> {
        if codes::cuda_device_count() == 0 {
            return Err(Error::device("cannot create an event: CUDA is not available (events mark work on CUDA streams)"));
        }
        Ok(Event(Mutex::new(CudaEvent::new(enable_timing)?)))
    }

    /// The event, for one use at a time (c10 events are not thread-safe).
    fn lock(&self) -> MutexGuard<'_, CudaEvent> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the event on a CUDA stream: it completes when the work queued there before it does.
    pub fn record(&self, stream: &Stream) -> Result<()> {
        match stream {
            Stream::Cpu => Err(Error::argument(
                "cannot record an event on a CPU stream: its work is done when issued (record on a CUDA stream)",
            )),
            Stream::Cuda(stream) => self.lock().record(stream),
        }
    }

    pub fn query(&self) -> Result<bool> {
        self.lock().query()
    }

    pub fn synchronize(&self) -> Result<()> {
        self.lock().synchronize()
    }

    /// Milliseconds from this event to `end`.
    pub fn elapsed_ms(&self, end: &Event) -> Result<f64> {
        if std::ptr::eq(self, end) {
            let event = self.lock();
            return event.elapsed_ms(&event);
        }
        // Lock in address order, so that two threads timing (a, b) and (b, a) cannot deadlock.
        let (start, stop) = if (self as *const Event) < (end as *const Event) {
            (self.lock(), end.lock())
        } else {
            let stop = end.lock();
            (self.lock(), stop)
        };
        start.elapsed_ms(&stop)
    }
}

/// Waits for all work queued on the device with ABI code `device`; nothing to wait for on the CPU.
pub fn synchronize_device(device: i32) -> Result<()> {
    match codes::device_from_code(device)? {
        Device::Cpu => Ok(()),
        _ => cuda::device_synchronize(device),
    }
}
