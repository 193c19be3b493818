//! SVG plots for `hypar demo`: the latency CDF beside a histogram of the
//! hops each delivery travelled.

use std::path::Path;

use plotters::prelude::*;

/// Write the two panels to `path`. `latencies` are sorted nanoseconds;
/// `hops[h]` counts deliveries that travelled `h` hops.
pub(crate) fn demo_svg(path: &Path, latencies: &[u64], hops: &[usize]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1100, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(560);

    let max_ms = latencies.last().map_or(1.0, |&ns| ns as f64 / 1e6).max(1.0);
    let mut cdf = ChartBuilder::on(&left)
        .caption("Delivery latency (CDF)", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..max_ms * 1.05, 0.0..1.0)?;
    cdf.configure_mesh().x_desc("latency (ms)").y_desc("fraction of deliveries").draw()?;
    let n = latencies.len().max(1) as f64;
    cdf.draw_series(LineSeries::new(
        latencies.iter().enumerate().map(|(i, &ns)| (ns as f64 / 1e6, (i + 1) as f64 / n)),
        BLUE.stroke_width(2),
    ))?;

    let top = hops.iter().copied().max().unwrap_or(1).max(1);
    let mut hist = ChartBuilder::on(&right)
        .caption("Hops per delivery", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0..hops.len().max(2) as u32).into_segmented(), 0..top + top / 10 + 1)?;
    hist.configure_mesh().x_desc("hops").y_desc("deliveries").disable_x_mesh().draw()?;
    hist.draw_series(
        Histogram::vertical(&hist)
            .style(GREEN.mix(0.7).filled())
            .margin(4)
            .data(hops.iter().enumerate().skip(1).map(|(h, &c)| (h as u32, c))),
    )?;
    root.present()?;
    Ok(())
}
