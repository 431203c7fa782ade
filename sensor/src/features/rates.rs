//! Rate family: per-second rates and per-subflow means, derived from the volume and timing families.
//! Rates of a flow with zero duration are missing (NaN), not infinite.

use super::timing::Timing;
use super::volume::Volume;
use crate::flow::Direction;

pub const NAMES: &[&str] = &[
    "bytes_per_s",
    "packets_per_s",
    "fwd_packets_per_s",
    "bwd_packets_per_s",
    "subflow_fwd_packets_mean",
    "subflow_fwd_bytes_mean",
    "subflow_bwd_packets_mean",
    "subflow_bwd_bytes_mean",
];

pub fn write(volume: &Volume, timing: &Timing, out: &mut Vec<f64>) {
    let (fwd, bwd) = (Direction::Forward, Direction::Backward);
    let fp = volume.packets(fwd) as f64;
    let bp = volume.packets(bwd) as f64;
    let fb = volume.bytes(fwd) as f64;
    let bb = volume.bytes(bwd) as f64;
    let secs = timing.duration_us() as f64 / 1e6;
    let rate = |x: f64| if secs > 0.0 { x / secs } else { f64::NAN };
    out.extend([rate(fb + bb), rate(fp + bp), rate(fp), rate(bp)]);
    let sf = f64::from(timing.subflows());
    out.extend([fp / sf, fb / sf, bp / sf, bb / sf]);
}
