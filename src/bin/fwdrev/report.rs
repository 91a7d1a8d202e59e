use crate::CliResult;
use clap::Args;
use std::path::PathBuf;
#[derive(Args)]
pub struct ReportArgs { #[arg(long)] x: Option<PathBuf> }
pub fn run(_a: &ReportArgs) -> CliResult { Ok(()) }
