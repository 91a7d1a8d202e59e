//! The small calls as the small bench, `examples/small_floor.rs` and
//! `examples/call_cost.rs` run them: ∇f, the JVP, the VJP and the HVP, each its `_into`
//! call on the calling thread (`Par::Seq`) with scratch and outputs made once, as a
//! caller looping over many small problems would make them, on a σ network (seed 0) at
//! a fixed point, direction and cotangent. Each includes this file by `#[path]`.

use fwdrev::{random, Activation, Mlp, Mode, Par, Scratch};
use ndarray::Array1;
use std::hint::black_box;

/// One of the small calls.
#[derive(Clone, Copy, Debug)]
pub enum Call {
    Grad,
    Jvp,
    Vjp,
    Hvp,
}

impl Call {
    /// Every call, in the tables' order.
    pub const ALL: [Call; 4] = [Call::Grad, Call::Jvp, Call::Vjp, Call::Hvp];

    /// The name the bench's ids and the tables give it.
    pub fn name(self) -> &'static str {
        match self {
            Call::Grad => "grad",
            Call::Jvp => "jvp",
            Call::Vjp => "vjp",
            Call::Hvp => "hvp",
        }
    }
}

/// A network of given widths with the calls' inputs, scratch and outputs.
pub struct Calls {
    net: Mlp<f64>,
    /// The point, the JVP's and HVP's direction, the VJP's cotangent.
    x: Array1<f64>,
    v: Array1<f64>,
    u: Array1<f64>,
    scratch: Scratch<f64>,
    /// Outputs: d0 entries (∇f, the VJP, the HVP's ∇f and ∇²f·v), d_L (F and J·v).
    g: Array1<f64>,
    h: Array1<f64>,
    out: Array1<f64>,
    jv: Array1<f64>,
}

impl Calls {
    /// For the σ network of "d0xd1x…", or what is wrong with the shape.
    pub fn of(shape: &str) -> Result<Calls, Box<dyn std::error::Error>> {
        let widths = shape
            .split('x')
            .map(|w| {
                w.parse()
                    .map_err(|e| format!("width {w:?} of {shape:?}: {e}"))
            })
            .collect::<Result<Vec<usize>, _>>()?;
        Ok(Calls::new(&widths)?)
    }

    /// For the σ network of `widths` (d0, d1, …, at least two), or why it cannot be made.
    fn new(widths: &[usize]) -> fwdrev::Result<Calls> {
        let net = Mlp::<f64>::from_seed(widths, Activation::Sigmoid, 0)?;
        let (d0, dl) = (widths[0], widths[widths.len() - 1]);
        Ok(Calls {
            net,
            x: random::standard_normal_vector(d0, 1)?,
            v: random::standard_normal_vector(d0, 2)?,
            u: random::standard_normal_vector(dl, 3)?,
            scratch: Scratch::new(),
            g: Array1::zeros(d0),
            h: Array1::zeros(d0),
            out: Array1::zeros(dl),
            jv: Array1::zeros(dl),
        })
    }

    /// Runs `call` once.
    #[inline]
    pub fn run(&mut self, call: Call) -> fwdrev::Result<()> {
        let (net, x, v, u, s) = (
            &self.net,
            self.x.view(),
            self.v.view(),
            self.u.view(),
            &mut self.scratch,
        );
        let seq = Par::Seq;
        match call {
            Call::Grad => {
                black_box(net.value_and_grad_into(x, Mode::Reverse, self.g.view_mut(), seq, s)?);
            }
            Call::Jvp => net.jvp_into(x, v, self.out.view_mut(), self.jv.view_mut(), seq, s)?,
            Call::Vjp => net.vjp_into(x, u, self.out.view_mut(), self.g.view_mut(), seq, s)?,
            Call::Hvp => net.hvp_into(x, v, self.g.view_mut(), self.h.view_mut(), seq, s)?,
        }
        Ok(())
    }
}
