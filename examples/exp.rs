use std::time::Instant;
fn main() {
    let gpu = gpumlp::Gpu::from_env().unwrap();
    let device = gpu.device();
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(std::fs::read_to_string("/tmp/mm.wgsl").unwrap().into()) });
    let (m, n, k) = (1024usize, 1024usize, 1024usize);
    let av: Vec<f32> = (0..m * k).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let bv: Vec<f32> = (0..k * n).map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5).collect();
    let ta = gpu.upload("a", &av).unwrap(); let tb = gpu.upload("b", &bv).unwrap(); let tc = gpu.zeros("c", m * n).unwrap();
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor { label: None, layout: None, module: &module, entry_point: Some("mm"), compilation_options: Default::default(), cache: None });
    let params: [u32; 4] = [m as u32, n as u32, k as u32, 0];
    let ub = wgpu::util::DeviceExt::create_buffer_init(device, &wgpu::util::BufferInitDescriptor { label: None, contents: bytemuck::cast_slice(&params), usage: wgpu::BufferUsages::UNIFORM });
    let bg = device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipeline.get_bind_group_layout(0), entries: &[
        wgpu::BindGroupEntry { binding: 0, resource: ub.as_entire_binding() },
        wgpu::BindGroupEntry { binding: 1, resource: ta.buffer.as_entire_binding() },
        wgpu::BindGroupEntry { binding: 2, resource: tb.buffer.as_entire_binding() },
        wgpu::BindGroupEntry { binding: 3, resource: tc.buffer.as_entire_binding() }] });
    let run = || {
        let mut enc = device.create_command_encoder(&Default::default());
        { let mut p = enc.begin_compute_pass(&Default::default()); p.set_pipeline(&pipeline); p.set_bind_group(0, &bg, &[]); p.dispatch_workgroups((n / 64) as u32, (m / 64) as u32, 1); }
        let idx = gpu.queue().submit([enc.finish()]);
        device.poll(wgpu::PollType::Wait { submission_index: Some(idx), timeout: None }).unwrap();
    };
    run();
    let t = Instant::now();
    for _ in 0..3 { run(); }
    let s = t.elapsed().as_secs_f64() / 3.0;
    println!("unrolled vec4 1024^3: {:.1} ms, {:.2} GFLOP/s", s * 1e3, 2.0 * (m * n * k) as f64 / s / 1e9);
    let got: Vec<f32> = gpu.read(&tc).unwrap();
    let mut want = vec![0.0; m * n];
    gpumlp::cpu::matmul(&av, &bv, &mut want, m, n, k);
    println!("worst {:e}", got.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max));
}
