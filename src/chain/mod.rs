//! The Jacobian chain J = M_L···M_1, M_k = diag(φ'_k(y_k))·W_k: its bracketings and
//! their predicted costs ([`plan`]), the machine speeds they are predicted from
//! ([`calibration`]), and running a plan in panels ([`jacobian`]).

mod calibration;
pub(crate) mod jacobian;
mod panels;
mod plan;

pub use calibration::Calibration;
pub use panels::{PanelSide, Panels};
pub(crate) use plan::{Fold, Operand, Tree};
pub use plan::{Mode, Plan};
