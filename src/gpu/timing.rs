//! Timing GPU work for `vanish bench`: GPU timestamp queries around a compute pass where the adapter
//! has them, host wall clock around submit-and-wait otherwise, and the result says which.

use std::time::Instant;

use serde::Serialize;

use super::{Dispatch, Gpu, GpuError};

/// Which clock a measurement came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// Timestamps written by the GPU at the start and end of the pass.
    GpuTimestamps,
    /// Host time from submit until the GPU finished.
    WallClock,
}

impl Gpu {
    /// Runs `dispatches` as one pass `reps` times, each its own submit and wait, and returns the
    /// seconds each took.
    pub fn time_dispatches(&self, dispatches: &[&Dispatch], reps: usize) -> Result<(Vec<f64>, Clock), GpuError> {
        if !self.timestamps {
            let mut times = Vec::with_capacity(reps);
            for _ in 0..reps {
                let start = Instant::now();
                self.run(dispatches)?;
                times.push(start.elapsed().as_secs_f64());
            }
            return Ok((times, Clock::WallClock));
        }
        let count = 2 * reps as u32;
        let queries = self.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("bench timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let bytes = 8 * count as u64;
        let resolve = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamps readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        for rep in 0..reps as u32 {
            let mut encoder = self.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("timed"),
                    timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                        query_set: &queries,
                        beginning_of_pass_write_index: Some(2 * rep),
                        end_of_pass_write_index: Some(2 * rep + 1),
                    }),
                });
                for d in dispatches {
                    d.record(&mut pass);
                }
            }
            self.submit(encoder.finish());
            self.wait()?;
        }
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.resolve_query_set(&queries, 0..count, &resolve, 0);
        encoder.copy_buffer_to_buffer(&resolve, 0, &staging, 0, bytes);
        self.submit(encoder.finish());
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&self.map_read(&staging)?);
        let period_ns = self.queue.get_timestamp_period() as f64;
        let times = ticks.chunks(2).map(|t| t[1].saturating_sub(t[0]) as f64 * period_ns * 1e-9).collect();
        Ok((times, Clock::GpuTimestamps))
    }
}
