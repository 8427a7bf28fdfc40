//! Buffer creation and readback.

use super::Gpu;
use crate::error::{Error, Result};

/// A run of 4-byte elements (f32 or u32) inside a GPU buffer: what an op binds.
///
/// Cloning is cheap (the buffer is reference-counted); slices share the buffer.
#[derive(Clone, Debug)]
pub struct Tensor {
    /// The buffer holding it.
    pub(crate) buffer: wgpu::Buffer,
    /// First element.
    pub(crate) offset: u64,
    /// Number of elements.
    pub(crate) len: u64,
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether it holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole buffer.
    pub fn whole(buffer: &wgpu::Buffer) -> Tensor {
        Tensor {
            buffer: buffer.clone(),
            offset: 0,
            len: buffer.size() / 4,
        }
    }

    /// `len` elements from `offset` of this tensor.
    pub fn slice(&self, offset: u64, len: u64) -> Tensor {
        debug_assert!(offset + len <= self.len);
        Tensor {
            buffer: self.buffer.clone(),
            offset: self.offset + offset,
            len,
        }
    }

    pub(crate) fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset * 4,
            size: wgpu::BufferSize::new(self.len * 4),
        })
    }
}

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl Gpu {
    fn check_storage_size(&self, what: &str, bytes: u64) -> Result<()> {
        let limit = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > limit {
            return Err(Error::Limit {
                what: what.to_string(),
                needed: bytes,
                limit,
                limit_name: "max_storage_buffer_binding_size",
                unit: "bytes",
                advice: "use a smaller batch size, narrower layers or fewer rows".into(),
            });
        }
        Ok(())
    }

    /// A zeroed storage buffer of `len` 4-byte elements (at least one).
    pub fn storage(&self, label: &str, len: usize) -> Result<wgpu::Buffer> {
        let bytes = 4 * len.max(1) as u64;
        self.check_storage_size(label, bytes)?;
        self.scoped(label, bytes, || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: STORAGE,
                mapped_at_creation: false,
            })
        })
    }

    /// A storage buffer holding `data` (at least one element).
    pub fn storage_init<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<wgpu::Buffer> {
        if data.is_empty() {
            return self.storage(label, 1);
        }
        let bytes: &[u8] = bytemuck::cast_slice(data);
        self.check_storage_size(label, bytes.len() as u64)?;
        // Not create_buffer_init: it panics when the buffer is invalid (a lost device).
        let buffer = self.scoped(label, bytes.len() as u64, || {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes.len() as u64,
                usage: STORAGE,
                mapped_at_creation: false,
            })
        })?;
        self.queue.write_buffer(&buffer, 0, bytes);
        self.check("uploading")?;
        Ok(buffer)
    }

    /// A uniform buffer holding one parameter struct. (Written through the queue: on a lost
    /// device that reports an error where create_buffer_init would panic.)
    pub(crate) fn uniform<T: bytemuck::Pod>(&self, label: &str, value: &T) -> wgpu::Buffer {
        let bytes = bytemuck::bytes_of(value);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buffer, 0, bytes);
        buffer
    }

    /// A buffer to read `len` 4-byte elements back through; keep one to read repeatedly
    /// without allocating.
    pub(crate) fn staging(&self, len: usize) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: 4 * len.max(1) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Copies `tensor` back to the host. Waits for all work submitted before it.
    pub fn read<T: bytemuck::Pod>(&self, tensor: &Tensor) -> Result<Vec<T>> {
        self.read_via(tensor, &self.staging(tensor.len as usize))
    }

    /// [`Gpu::read`] through a staging buffer made by [`Gpu::staging`] (at least as large).
    pub(crate) fn read_via<T: bytemuck::Pod>(
        &self,
        tensor: &Tensor,
        staging: &wgpu::Buffer,
    ) -> Result<Vec<T>> {
        let bytes = tensor.len * 4;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        debug_assert!(staging.size() >= bytes);
        let mut encoder = self.encoder("readback");
        encoder.copy_buffer_to_buffer(&tensor.buffer, tensor.offset * 4, staging, 0, bytes);
        self.queue.submit([encoder.finish()]);

        let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
        staging.map_async(wgpu::MapMode::Read, ..bytes, move |r| {
            sender.send(r).ok();
        });
        let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
        // A fault wgpu recorded (a lost device, say) says more than the poll's error.
        self.check("reading back a buffer")?;
        polled.map_err(|e| Error::Gpu {
            during: "reading back a buffer",
            message: e.to_string(),
        })?;
        let mapped = pollster::block_on(receiver.receive());
        match mapped {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return Err(Error::Gpu {
                    during: "mapping a buffer for readback",
                    message: e.to_string(),
                })
            }
            None => {
                return Err(Error::Gpu {
                    during: "mapping a buffer for readback",
                    message: "the map callback was dropped".to_string(),
                })
            }
        }
        let view = staging.get_mapped_range(..bytes).map_err(|e| Error::Gpu {
            during: "mapping a buffer for readback",
            message: e.to_string(),
        })?;
        let out = bytemuck::cast_slice::<u8, T>(&view).to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }
}

impl Gpu {
    /// Uploads `data` into a new tensor.
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<Tensor> {
        let buffer = self.storage_init(label, data)?;
        Ok(Tensor {
            buffer,
            offset: 0,
            len: data.len() as u64,
        })
    }

    /// Overwrites the start of `tensor` with `data`, in order with the work submitted.
    pub fn write<T: bytemuck::Pod>(&self, tensor: &Tensor, data: &[T]) {
        self.queue().write_buffer(
            &tensor.buffer,
            tensor.offset * 4,
            bytemuck::cast_slice(data),
        );
    }

    /// A new tensor of `len` zeros.
    pub fn zeros(&self, label: &str, len: usize) -> Result<Tensor> {
        let buffer = self.storage(label, len)?;
        Ok(Tensor {
            buffer,
            offset: 0,
            len: len as u64,
        })
    }
}
