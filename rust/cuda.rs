//! libtorch's CUDA API that tch does not wrap (streams, events, the caching allocator), through
//! the C++ shim rust/shim.cpp. Without CUDA every call fails with the shim's message.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::null_mut;

use crate::error::{without_cpp_trace, Error, Result};

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
    fn simple_torch_cuda_stream_raw(stream: *const CudaStream, out: *mut *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_current_stream(device: i32, out: *mut CudaStream, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_set_current_stream(stream: *const CudaStream, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_device_synchronize(device: i32, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_event_new(enable_timing: i32, out: *mut *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_event_free(event: *mut c_void);
    fn simple_torch_cuda_event_record(event: *mut c_void, stream: *const CudaStream, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_event_block(event: *mut c_void, stream: *const CudaStream, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_event_query(event: *mut c_void, done: *mut i32, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_event_synchronize(event: *mut c_void, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_event_elapsed_ms(start: *mut c_void, end: *mut c_void, out: *mut f64, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_memory_stats(device: i32, out: *mut i64, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_reset_peak_memory_stats(device: i32, error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_empty_cache(error: *mut c_char, len: usize) -> c_int;
    fn simple_torch_cuda_memory_info(device: i32, free: *mut i64, total: *mut i64, error: *mut c_char, len: usize) -> c_int;
}

/// Calls a shim function, turning its C++ exception into a device error that says what failed.
fn call(what: &str, f: impl FnOnce(*mut c_char, usize) -> c_int) -> Result<()> {
    crate::shim::call(f).map_err(|text| Error::device(format!("{what}: {}", without_cpp_trace(&text))))
}

const EMPTY: CudaStream = CudaStream { id: 0, device_index: 0, device_type: 0 };

pub fn new_stream(device: i32) -> Result<CudaStream> {
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

/// The stream's `cudaStream_t`.
pub fn raw(stream: &CudaStream) -> Result<*mut c_void> {
    let mut raw = null_mut();
    call("cannot read the CUDA stream", |e, n| unsafe { simple_torch_cuda_stream_raw(stream, &mut raw, e, n) })?;
    Ok(raw)
}

/// The calling thread's current stream on the device.
pub fn current(device: i32) -> Result<CudaStream> {
    let mut stream = EMPTY;
    call("cannot read the current CUDA stream", |e, n| unsafe { simple_torch_cuda_current_stream(device, &mut stream, e, n) })?;
    Ok(stream)
}

/// Makes the stream current on its device, for the calling thread.
pub fn set_current(stream: &CudaStream) -> Result<()> {
    call("cannot make the CUDA stream current", |e, n| unsafe { simple_torch_cuda_set_current_stream(stream, e, n) })
}

pub fn device_synchronize(device: i32) -> Result<()> {
    call("cannot synchronize the CUDA device", |e, n| unsafe { simple_torch_cuda_device_synchronize(device, e, n) })
}

/// A CUDA event (a `c10::Event` the shim allocated), freed on drop.
pub struct CudaEvent(*mut c_void);

// SAFETY: the pointer is owned; callers serialize use of one event (streams::Event's mutex).
unsafe impl Send for CudaEvent {}

impl CudaEvent {
    pub fn new(enable_timing: bool) -> Result<CudaEvent> {
        let mut event = null_mut();
        call("cannot create a CUDA event", |e, n| unsafe { simple_torch_cuda_event_new(enable_timing.into(), &mut event, e, n) })?;
        Ok(CudaEvent(event))
    }

    pub fn record(&self, stream: &CudaStream) -> Result<()> {
        call("cannot record the CUDA event", |e, n| unsafe { simple_torch_cuda_event_record(self.0, stream, e, n) })
    }

    /// Makes work queued on `stream` from now on wait for the recorded work.
    pub fn block(&self, stream: &CudaStream) -> Result<()> {
        call("cannot make the stream wait for the CUDA event", |e, n| unsafe { simple_torch_cuda_event_block(self.0, stream, e, n) })
    }

    pub fn query(&self) -> Result<bool> {
        let mut done = 0;
        call("cannot query the CUDA event", |e, n| unsafe { simple_torch_cuda_event_query(self.0, &mut done, e, n) })?;
        Ok(done != 0)
    }

    pub fn synchronize(&self) -> Result<()> {
        call("cannot synchronize the CUDA event", |e, n| unsafe { simple_torch_cuda_event_synchronize(self.0, e, n) })
    }

    /// Milliseconds from this event to `end`, both recorded with timing enabled and completed.
    pub fn elapsed_ms(&self, end: &CudaEvent) -> Result<f64> {
        let mut ms = 0.0;
        call("cannot time the CUDA events", |e, n| unsafe { simple_torch_cuda_event_elapsed_ms(self.0, end.0, &mut ms, e, n) })?;
        Ok(ms)
    }
}

impl Drop for CudaEvent {
    fn drop(&mut self) {
        unsafe { simple_torch_cuda_event_free(self.0) }
    }
}

/// The caching allocator's byte counts for one device, as torch.cuda reports them.
pub struct MemoryStats {
    pub allocated: i64,
    pub max_allocated: i64,
    pub reserved: i64,
    pub max_reserved: i64,
}

pub fn memory_stats(device: i32) -> Result<MemoryStats> {
    let mut out = [0i64; 4];
    call("cannot read CUDA memory statistics", |e, n| unsafe { simple_torch_cuda_memory_stats(device, out.as_mut_ptr(), e, n) })?;
    let [allocated, max_allocated, reserved, max_reserved] = out;
    Ok(MemoryStats { allocated, max_allocated, reserved, max_reserved })
}

pub fn reset_peak_memory_stats(device: i32) -> Result<()> {
    call("cannot reset CUDA memory statistics", |e, n| unsafe { simple_torch_cuda_reset_peak_memory_stats(device, e, n) })
}

pub fn empty_cache() -> Result<()> {
    call("cannot empty the CUDA cache", |e, n| unsafe { simple_torch_cuda_empty_cache(e, n) })
}

/// The driver's `(free, total)` bytes on the device.
pub fn memory_info(device: i32) -> Result<(i64, i64)> {
    let (mut free, mut total) = (0, 0);
    call("cannot read CUDA memory information", |e, n| unsafe { simple_torch_cuda_memory_info(device, &mut free, &mut total, e, n) })?;
    Ok((free, total))
}
