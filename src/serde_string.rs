//! Types that travel in JSON as their command-line spelling (`"relu"`, `"leaky_relu:0.2"`, `"sgd:0.9"`):
//! serde goes through `FromStr` and `Display`, so files and flags share one syntax and one parser.

/// Implements `TryFrom<String>` (via `FromStr<Err = String>`) and `From<T> for String` (via `Display`)
/// for use with `#[serde(try_from = "String", into = "String")]`.
macro_rules! serde_as_string {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                s.parse()
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }
    };
}

pub(crate) use serde_as_string;
