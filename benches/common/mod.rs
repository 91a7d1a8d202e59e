//! What both benches need before criterion starts.

/// Restarts with the right OpenBLAS kernels if needed, and registers the bundled font:
/// plotters (shared with the report, which enables ab_glyph) draws criterion's plots
/// only with a registered font.
pub fn prepare() {
    // OpenBLAS on a CPU newer than itself picks SSE3 kernels; restart with the right ones.
    fwdrev::backend::restart_with_best_kernels();
    let font = include_bytes!("../../assets/DejaVuSans.ttf");
    for style in [
        plotters::style::FontStyle::Normal,
        plotters::style::FontStyle::Bold,
    ] {
        if plotters::style::register_font("sans-serif", style, font).is_err() {
            panic!("assets/DejaVuSans.ttf is not a valid font");
        }
    }
}
