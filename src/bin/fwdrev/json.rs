//! Results as JSON numbers. JSON has no infinity, and serde would write ±inf as `null`,
//! losing the sign; results beyond f64's range (see the README's Guarantees) are the
//! strings `"inf"` and `"-inf"` instead, which Python's `float()` reads back. NaN never
//! comes out of a computation on finite inputs; it would be `"nan"`.

use serde_json::Value;

/// One value.
pub fn number(v: f64) -> Value {
    if v.is_finite() {
        Value::from(v)
    } else if v.is_nan() {
        Value::from("nan")
    } else if v > 0.0 {
        Value::from("inf")
    } else {
        Value::from("-inf")
    }
}

/// A vector of values.
pub fn numbers<'a>(v: impl IntoIterator<Item = &'a f64>) -> Value {
    Value::Array(v.into_iter().map(|&v| number(v)).collect())
}
