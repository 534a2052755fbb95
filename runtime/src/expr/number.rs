//! Number arithmetic for Synapse expressions, as MI does it: integers stay integral (with
//! overflow widening to floating point), and `+ - * %` on decimals are exact on the
//! numbers' shortest decimal forms, so `0.1 + 0.2` is `0.3` as with Java's `BigDecimal`.

use serde_json::{Number, Value};

use ferry_api::expr::ast::BinaryOp;

use super::EvalError;

/// A JSON number split into the two kinds MI distinguishes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    /// The number held by `v`, if it is one.
    pub(crate) fn of(v: &Value) -> Option<Num> {
        let Value::Number(n) = v else { return None };
        Some(match n.as_i64() {
            Some(i) => Num::Int(i),
            None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
        })
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// Back to JSON; non-finite floats (which JSON cannot hold) are errors.
    pub(crate) fn into_value(self) -> Result<Value, EvalError> {
        match self {
            Num::Int(i) => Ok(Value::from(i)),
            Num::Float(f) => Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| EvalError::Invalid(format!("result {f} is not a finite number"))),
        }
    }
}

/// Applies `+ - * / %` to two numbers.
pub(crate) fn arithmetic(op: BinaryOp, a: Num, b: Num) -> Result<Num, EvalError> {
    if matches!(op, BinaryOp::Div | BinaryOp::Rem) && b.as_f64() == 0.0 {
        let what = if op == BinaryOp::Div {
            "division"
        } else {
            "modulo"
        };
        return Err(EvalError::Invalid(format!("{what} by zero")));
    }
    if let (Num::Int(x), Num::Int(y)) = (a, b) {
        let exact = match op {
            BinaryOp::Add => x.checked_add(y),
            BinaryOp::Sub => x.checked_sub(y),
            BinaryOp::Mul => x.checked_mul(y),
            // Exact quotients stay integers; others become decimals (MI's rule).
            BinaryOp::Div => x
                .checked_rem(y)
                .filter(|r| *r == 0)
                .and_then(|_| x.checked_div(y)),
            BinaryOp::Rem => x.checked_rem(y),
            _ => None,
        };
        if let Some(r) = exact {
            return Ok(Num::Int(r));
        }
    }
    let (x, y) = (a.as_f64(), b.as_f64());
    if op != BinaryOp::Div
        && let Some(r) = decimal_op(op, x, y)
    {
        return Ok(Num::Float(r));
    }
    Ok(Num::Float(match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        _ => x % y,
    }))
}

/// A decimal as mantissa × 10^-scale.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    fn of(f: f64) -> Option<Decimal> {
        if !f.is_finite() {
            return None;
        }
        // Display gives the shortest text that round-trips, never an exponent.
        let text = f.to_string();
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let digits = format!("{int}{frac}");
        let mantissa = digits.parse::<i128>().ok()?;
        Some(Decimal {
            mantissa,
            scale: u32::try_from(frac.len()).ok()?,
        })
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(10i128.checked_pow(scale - self.scale)?)
    }

    fn to_f64(self) -> Option<f64> {
        let negative = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        let sign = if negative { "-" } else { "" };
        format!("{sign}{int}.{frac}0").parse().ok()
    }
}

fn decimal_op(op: BinaryOp, x: f64, y: f64) -> Option<f64> {
    let (a, b) = (Decimal::of(x)?, Decimal::of(y)?);
    let result = match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Rem => {
            let scale = a.scale.max(b.scale);
            let (m, n) = (a.rescale(scale)?, b.rescale(scale)?);
            let mantissa = match op {
                BinaryOp::Add => m.checked_add(n)?,
                BinaryOp::Sub => m.checked_sub(n)?,
                _ => m.checked_rem(n)?,
            };
            Decimal { mantissa, scale }
        }
        BinaryOp::Mul => Decimal {
            mantissa: a.mantissa.checked_mul(b.mantissa)?,
            scale: a.scale.checked_add(b.scale)?,
        },
        _ => return None,
    };
    result.to_f64()
}

/// Rounds half away from zero to `places` decimals on the shortest decimal form of `f`
/// (so `1.005` rounds to `1.01`, as Java's `BigDecimal` does).
pub(crate) fn round_decimal(f: f64, places: u32) -> Option<f64> {
    let d = Decimal::of(f)?;
    if d.scale <= places {
        return Some(f);
    }
    let divisor = 10i128.checked_pow(d.scale - places)?;
    let (q, r) = (d.mantissa / divisor, d.mantissa % divisor);
    let up = r.unsigned_abs() * 2 >= divisor.unsigned_abs();
    let mantissa = if up { q + d.mantissa.signum() } else { q };
    Decimal {
        mantissa,
        scale: places,
    }
    .to_f64()
}

/// Numeric ordering for comparisons: exact on integers, IEEE otherwise.
pub(crate) fn compare(a: Num, b: Num) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        _ => a.as_f64().partial_cmp(&b.as_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(o: BinaryOp, a: Num, b: Num) -> Num {
        arithmetic(o, a, b).unwrap()
    }

    #[test]
    fn integer_arithmetic_stays_integral() {
        assert_eq!(op(BinaryOp::Add, Num::Int(1), Num::Int(2)), Num::Int(3));
        assert_eq!(op(BinaryOp::Mul, Num::Int(4), Num::Int(-3)), Num::Int(-12));
        assert_eq!(op(BinaryOp::Rem, Num::Int(7), Num::Int(3)), Num::Int(1));
    }

    #[test]
    fn inexact_integer_division_becomes_a_decimal() {
        assert_eq!(op(BinaryOp::Div, Num::Int(6), Num::Int(3)), Num::Int(2));
        assert_eq!(op(BinaryOp::Div, Num::Int(7), Num::Int(2)), Num::Float(3.5));
    }

    #[test]
    fn integer_overflow_widens_to_floating_point() {
        let r = op(BinaryOp::Add, Num::Int(i64::MAX), Num::Int(1));
        assert!(matches!(r, Num::Float(f) if f > 9.2e18));
    }

    #[test]
    fn decimal_arithmetic_is_exact_on_short_forms() {
        assert_eq!(
            op(BinaryOp::Add, Num::Float(0.1), Num::Float(0.2)),
            Num::Float(0.3)
        );
        assert_eq!(
            op(BinaryOp::Sub, Num::Float(1.1), Num::Float(0.2)),
            Num::Float(0.9)
        );
        assert_eq!(
            op(BinaryOp::Mul, Num::Float(1.1), Num::Int(3)),
            Num::Float(3.3)
        );
        assert_eq!(
            op(BinaryOp::Rem, Num::Float(5.5), Num::Int(2)),
            Num::Float(1.5)
        );
        assert_eq!(
            op(BinaryOp::Add, Num::Float(-0.5), Num::Float(0.25)),
            Num::Float(-0.25)
        );
    }

    #[test]
    fn rounding_to_places_is_half_up_on_the_decimal_form() {
        assert_eq!(round_decimal(1.005, 2), Some(1.01));
        assert_eq!(round_decimal(-2.345, 2), Some(-2.35));
        assert_eq!(round_decimal(5.12345, 3), Some(5.123));
        assert_eq!(round_decimal(2.5, 3), Some(2.5));
    }

    #[test]
    fn division_and_modulo_by_zero_fail() {
        assert!(arithmetic(BinaryOp::Div, Num::Int(1), Num::Int(0)).is_err());
        assert!(arithmetic(BinaryOp::Rem, Num::Float(1.0), Num::Float(0.0)).is_err());
    }
}
