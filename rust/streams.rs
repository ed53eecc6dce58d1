//! Streams: CUDA streams from libtorch's pool (through the C++ shim rust/shim.cpp), and
//! a CPU stream, like `torch.cpu.Stream`, so device-agnostic code runs unchanged on the CPU:
//! work on it is done as soon as it is issued.

use tch::Device;

use crate::codes::{self, device_name};
use crate::error::{without_cpp_trace, Error, Result};

pub enum Stream {
    Cpu,
    Cuda(cuda::CudaStream),
}

impl Stream {
    /// A new stream on the device with ABI code `device` (-1 the CPU).
    pub fn new(device: i32) -> Result<Stream> {
        match codes::device_from_code(device)? {
            Device::Cpu => Ok(Stream::Cpu),
            _ => cuda::new(device).map(Stream::Cuda),
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
}

/// Waits for all work queued on the device with ABI code `device`; nothing to wait for on the CPU.
pub fn synchronize_device(device: i32) -> Result<()> {
    match codes::device_from_code(device)? {
        Device::Cpu => Ok(()),
        _ => cuda::device_synchronize(device),
    }
}

#[cfg_attr(not(simple_torch_cuda), allow(dead_code))]
fn shim_error(what: &str, text: &str) -> Error {
    Error::device(format!("{what}: {}", without_cpp_trace(text)))
}

#[cfg(simple_torch_cuda)]
mod cuda {
    use std::ffi::{c_char, c_int};

    use super::shim_error;
    use crate::error::Result;

    /// c10's packed stream (StreamData3), as rust/shim.cpp passes it.
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct CudaStream {
        id: i64,
        pub device_index: i32,
        device_type: i32,
    }

    extern "C" {
        fn simple_torch_cuda_stream_new(device: i32, out: *mut CudaStream, error: *mut c_char, len: usize) -> c_int;
        fn simple_torch_cuda_stream_synchronize(stream: *const CudaStream, error: *mut c_char, len: usize) -> c_int;
        fn simple_torch_cuda_stream_query(stream: *const CudaStream, done: *mut i32, error: *mut c_char, len: usize) -> c_int;
        fn simple_torch_cuda_current_stream(device: i32, out: *mut CudaStream, error: *mut c_char, len: usize) -> c_int;
        fn simple_torch_cuda_set_current_stream(stream: *const CudaStream, error: *mut c_char, len: usize) -> c_int;
        fn simple_torch_cuda_device_synchronize(device: i32, error: *mut c_char, len: usize) -> c_int;
    }

    /// Calls a shim function, turning its C++ exception into an Error.
    fn call(what: &str, f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
        crate::shim::call(f).map_err(|text| shim_error(what, &text))
    }

    const EMPTY: CudaStream = CudaStream { id: 0, device_index: 0, device_type: 0 };

    pub fn new(device: i32) -> Result<CudaStream> {
        let mut stream = EMPTY;
        call("cannot create a CUDA stream", |e, n| unsafe { simple_torch_cuda_stream_new(device, &mut stream, e, n) })?;
        Ok(stream)
    }

    pub fn synchronize(stream: &CudaStream) -> Result<()> {
        call("cannot synchronize the CUDA stream", |e, n| unsafe { simple_torch_cuda_stream_synchronize(stream, e, n) })
    }

    pub fn query(stream: &CudaStream) -> Result<bool> {
        let mut done = 0;
        call("cannot query the CUDA stream", |e, n| unsafe { simple_torch_cuda_stream_query(stream, &mut done, e, n) })?;
        Ok(done != 0)
    }

    pub fn current(device: i32) -> Result<CudaStream> {
        let mut stream = EMPTY;
        call("cannot read the current CUDA stream", |e, n| unsafe { simple_torch_cuda_current_stream(device, &mut stream, e, n) })?;
        Ok(stream)
    }

    pub fn set_current(stream: &CudaStream) -> Result<()> {
        call("cannot make the CUDA stream current", |e, n| unsafe { simple_torch_cuda_set_current_stream(stream, e, n) })
    }

    pub fn device_synchronize(device: i32) -> Result<()> {
        call("cannot synchronize the CUDA device", |e, n| unsafe { simple_torch_cuda_device_synchronize(device, e, n) })
    }
}

/// A libtorch without CUDA: there is no CUDA device to make a stream on, so `Stream::new`
/// never reaches these (its device check fails first); they exist so the code compiles.
#[cfg(not(simple_torch_cuda))]
mod cuda {
    use crate::error::{Error, Result};

    pub struct CudaStream {
        pub device_index: i32,
    }

    fn unsupported<T>() -> Result<T> {
        Err(Error::device("this libtorch was built without CUDA"))
    }

    pub fn new(_device: i32) -> Result<CudaStream> {
        unsupported()
    }

    pub fn synchronize(_stream: &CudaStream) -> Result<()> {
        unsupported()
    }

    pub fn query(_stream: &CudaStream) -> Result<bool> {
        unsupported()
    }

    pub fn current(_device: i32) -> Result<CudaStream> {
        unsupported()
    }

    pub fn set_current(_stream: &CudaStream) -> Result<()> {
        unsupported()
    }

    pub fn device_synchronize(_device: i32) -> Result<()> {
        unsupported()
    }
}
