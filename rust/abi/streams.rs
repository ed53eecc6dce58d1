//! Streams: the seed design's stream_create, sync, query, to_stream and free.

use std::ptr::null_mut;

use tch::Device;

use crate::abi::devices::moved;
use crate::codes::{self, describe, device_name};
use crate::error::{guard, Error};
use crate::handles::{self, register_stream, register_tensor, TorchStream, TorchTensor};
use crate::streams::Stream;

/// A new stream on the device with code `device_id`: N >= 0 a CUDA stream on `cuda:N`
/// (from libtorch's stream pool), -1 a CPU stream, on which work is done as soon as it is
/// issued. NULL on error, e.g. without CUDA.
#[no_mangle]
pub extern "C" fn rt_torch_stream_create(device_id: i32) -> *mut TorchStream {
    guard("rt_torch_stream_create", null_mut(), || Ok(register_stream(Stream::new(device_id)?)))
}

/// Waits until all work queued on the stream is done.
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_sync(s: *mut TorchStream) {
    guard("rt_torch_torchstream_sync", (), || handles::stream(s)?.synchronize())
}

/// True when all work queued on the stream is done; false if not, and false with an error
/// recorded on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_query(s: *mut TorchStream) -> bool {
    guard("rt_torch_torchstream_query", false, || handles::stream(s)?.query())
}

/// Copies the tensor to the device with code `device_id`, queued on stream `s` without
/// blocking the caller (truly asynchronous for pinned CPU memory). The stream must be on the
/// GPU involved: the destination, or for a copy to the CPU the source. Synchronize the stream
/// before reading the result from elsewhere. NULL on error.
#[no_mangle]
pub extern "C" fn rt_torch_torchtensor_to_stream(h: *const TorchTensor, device_id: i32, s: *mut TorchStream) -> *mut TorchTensor {
    guard("rt_torch_torchtensor_to_stream", null_mut(), || {
        let (tensor, stream) = (handles::tensor(h)?, handles::stream(s)?);
        let destination = codes::device_from_code(device_id)?;
        let copy_device = match (destination, tensor.0.device()) {
            (Device::Cpu, source) => source,
            (destination, _) => destination,
        };
        if copy_device != stream.device() {
            return Err(Error::argument(format!(
                "cannot copy {} to {} on {}: the stream must be on {}",
                describe(&tensor.0),
                device_name(destination),
                stream.describe(),
                device_name(copy_device)
            )));
        }
        let copy = stream.run(|| moved(&tensor, destination, true))?;
        Ok(register_tensor(copy))
    })
}

/// Releases a stream handle (the stream itself belongs to libtorch's pool). NULL is a no-op;
/// a freed or unknown handle records an error and touches nothing.
#[no_mangle]
pub extern "C" fn rt_torch_torchstream_free(s: *mut TorchStream) {
    guard("rt_torch_torchstream_free", (), || if s.is_null() { Ok(()) } else { handles::release_stream(s) })
}
