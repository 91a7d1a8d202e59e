//! The arguments `[f64|f32] [D] [ROUNDS]` of the examples that time one size round by
//! round (`read_floor`, `gemm_ratio`), each of which includes this file by `#[path]`.

/// The element type asked for.
#[derive(Clone, Copy)]
pub enum Dtype {
    /// f64, the default.
    F64,
    /// f32.
    F32,
}

/// What the command line asked for.
pub struct Rounds {
    /// The element type.
    pub dtype: Dtype,
    /// The size.
    pub d: usize,
    /// Timed rounds, after one untimed.
    pub rounds: usize,
}

impl Rounds {
    /// This process's arguments, D and ROUNDS defaulting to `d` and `rounds`; an error
    /// names the argument that is wrong.
    pub fn from_args(d: usize, rounds: usize) -> Result<Self, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.len() > 3 {
            return Err(format!("{} arguments, at most three", args.len()));
        }
        let number = |i: usize, name: &str, default: usize| -> Result<usize, String> {
            args.get(i).map_or(Ok(default), |s| {
                s.parse().map_err(|e| format!("{name} {s:?}: {e}"))
            })
        };
        let (d, rounds) = (number(1, "D", d)?, number(2, "ROUNDS", rounds)?);
        if d == 0 {
            return Err("D must be at least 1".into());
        }
        if rounds == 0 {
            return Err("ROUNDS must be at least 1".into());
        }
        let dtype = match args.first().map_or("f64", String::as_str) {
            "f64" => Dtype::F64,
            "f32" => Dtype::F32,
            other => return Err(format!("dtype {other:?}: f64 or f32")),
        };
        Ok(Rounds { dtype, d, rounds })
    }
}
