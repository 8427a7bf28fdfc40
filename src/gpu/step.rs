//! Per-step values for many steps recorded into one submission: one uniform slot per step.

use super::Gpu;

/// Mirror of `struct Step` in src/kernels/prelude.wgsl: one training step's values, in one
/// uniform slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepUniform {
    /// First position in the shuffled row order for this batch.
    pub row_offset: u32,
    /// Where this step's mean loss goes in the loss buffer.
    pub loss_slot: u32,
    /// Learning rate of this step.
    pub lr: f32,
    /// 1 − β1^t.
    pub bias_correction1: f32,
    /// 1 − β2^t.
    pub bias_correction2: f32,
    /// Rows in this step's batch (the fused kernel reads it; the others are built per size).
    pub rows: u32,
    /// Where this step's model starts in the parameters and optimiser state (the wide fused
    /// kernel trains one model a workgroup; the other kernels bind one model's own).
    pub params_at: u32,
    /// What the step does (the wide fused kernel; the others only train):
    /// [`StepUniform::TRAIN`], [`StepUniform::FORWARD_ONLY`] or [`StepUniform::SNAPSHOT`].
    pub kind: u32,
    /// The optimiser's constants (the wide fused kernel reads them here, so models whose
    /// constants differ share its dispatches; the other kernels take them from their own
    /// parameters).
    pub beta1: f32,
    /// See `beta1`.
    pub beta2: f32,
    /// See `beta1`.
    pub eps: f32,
    /// See `beta1`.
    pub weight_decay: f32,
    /// See `beta1`.
    pub momentum: f32,
    /// Where the step's model's row map starts in the rows' buffer, or
    /// [`StepUniform::NO_MAP`]: rows shared by several models, each reading them through a
    /// map of its own (the wide fused kernel; src/data/prep/shared.rs).
    pub map_at: u32,
    _pad: [u32; 2],
}

impl StepUniform {
    /// A training step.
    pub const TRAIN: u32 = 0;
    /// Trains nothing: writes the logits of its rows from `loss_slot` on (validation).
    pub const FORWARD_ONLY: u32 = 1;
    /// Trains nothing: copies its model's parameters to `loss_slot` on, as the steps before
    /// it left them (the weights of an epoch the host may want back).
    pub const SNAPSHOT: u32 = 2;
    /// `map_at` of a step whose model reads its rows as they are stored.
    pub const NO_MAP: u32 = u32::MAX;

    /// The slot contents of one step: where its batch starts in the row order, where its
    /// loss goes, its learning rate and Adam's two bias corrections.
    pub fn new(
        row_offset: u32,
        loss_slot: u32,
        lr: f32,
        bias_correction1: f32,
        bias_correction2: f32,
    ) -> StepUniform {
        StepUniform {
            row_offset,
            loss_slot,
            lr,
            bias_correction1,
            bias_correction2,
            rows: 0,
            params_at: 0,
            kind: StepUniform::TRAIN,
            beta1: 0.0,
            beta2: 0.0,
            eps: 0.0,
            weight_decay: 0.0,
            momentum: 0.0,
            map_at: StepUniform::NO_MAP,
            _pad: [0; 2],
        }
    }

    /// The same step with its batch size recorded.
    pub fn with_rows(mut self, rows: u32) -> StepUniform {
        self.rows = rows;
        self
    }

    /// A forward-only step: the logits of the `rows` rows at `row_offset` of the row order,
    /// (rows, outputs) into the loss buffer from `logits_at`.
    pub fn forward_only(row_offset: u32, rows: u32, logits_at: u32) -> StepUniform {
        StepUniform {
            kind: StepUniform::FORWARD_ONLY,
            ..StepUniform::new(row_offset, logits_at, 0.0, 1.0, 1.0).with_rows(rows)
        }
    }

    /// A snapshot step: the parameters into the loss buffer from `at`.
    pub fn snapshot(at: u32) -> StepUniform {
        StepUniform {
            kind: StepUniform::SNAPSHOT,
            // Not a pause (0 rows).
            ..StepUniform::new(0, at, 0.0, 1.0, 1.0).with_rows(1)
        }
    }

    /// The same step with the optimiser's constants `c`.
    pub fn with_constants(mut self, c: crate::optim::Constants) -> StepUniform {
        self.beta1 = c.beta1;
        self.beta2 = c.beta2;
        self.eps = c.eps;
        self.weight_decay = c.weight_decay;
        self.momentum = c.momentum;
        self
    }

    /// The same step for the model whose parameters start at `params_at`.
    pub fn with_params_at(mut self, params_at: u32) -> StepUniform {
        self.params_at = params_at;
        self
    }

    /// The same step reading its rows through the row map at `map_at`.
    pub fn with_map_at(mut self, map_at: u32) -> StepUniform {
        self.map_at = map_at;
        self
    }
}

/// Room for `capacity` steps, each a slot of one [`StepUniform`] per model trained side by
/// side, at its own aligned offset: bound once with a dynamic offset, recording step `i`
/// passes `offset(i)`. A storage buffer, so a slot holds any number of models.
pub struct StepSlots {
    buffer: wgpu::Buffer,
    stride: u64,
    capacity: usize,
    models: usize,
}

impl StepSlots {
    /// Room for `capacity` steps of one model, or as many as the device's largest buffer
    /// holds (at least one; see [`StepSlots::capacity`]).
    pub fn new(gpu: &Gpu, capacity: usize) -> StepSlots {
        StepSlots::for_models(gpu, capacity, 1)
    }

    /// Room for `capacity` steps of `models` models each.
    pub fn for_models(gpu: &Gpu, capacity: usize, models: usize) -> StepSlots {
        let models = models.max(1);
        let align = u64::from(gpu.limits().min_storage_buffer_offset_alignment);
        let bytes = (models * std::mem::size_of::<StepUniform>()) as u64;
        let stride = bytes.div_ceil(align) * align;
        let room = (gpu.limits().max_buffer_size / stride).max(1);
        let capacity = capacity.clamp(1, usize::try_from(room).unwrap_or(usize::MAX));
        let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("steps"),
            size: stride * capacity as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        StepSlots {
            buffer,
            stride,
            capacity,
            models,
        }
    }

    /// How many steps fit.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Models per slot.
    pub fn models(&self) -> usize {
        self.models
    }

    /// The dynamic offset of slot `i`.
    pub fn offset(&self, i: usize) -> u32 {
        (i as u64 * self.stride) as u32
    }

    /// The binding of one slot; the dynamic offset picks which.
    pub(crate) fn binding(&self) -> wgpu::BindingResource<'_> {
        let bytes = (self.models * std::mem::size_of::<StepUniform>()) as u64;
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: 0,
            size: wgpu::BufferSize::new(bytes),
        })
    }

    /// Queues `steps` into slots 0.., [`StepSlots::models`] to a slot (model 0's first);
    /// ordered before the next submission.
    pub fn write(&self, gpu: &Gpu, steps: &[StepUniform]) {
        debug_assert!(steps.len().is_multiple_of(self.models));
        debug_assert!(steps.len() / self.models <= self.capacity);
        let mut bytes = vec![0u8; self.stride as usize * steps.len().div_ceil(self.models)];
        for (i, slot) in steps.chunks(self.models).enumerate() {
            let at = i * self.stride as usize;
            bytes[at..at + std::mem::size_of_val(slot)].copy_from_slice(bytemuck::cast_slice(slot));
        }
        if !bytes.is_empty() {
            gpu.queue().write_buffer(&self.buffer, 0, &bytes);
        }
    }
}
