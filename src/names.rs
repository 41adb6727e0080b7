//! Named values: settings with a fixed set of values are enums that read and write a plain
//! string (so TOML files and pinned run hashes keep their text) and whose every `match` the
//! compiler checks. `named_enum!` declares one: `NAMES`, `as_str`, `FromStr` with a one-line
//! error that lists the names, `Display`, and serde as the plain name. The registries of
//! methods ([`crate::zoo`]) and layerwise solvers ([`crate::solver::layer`]) generate their
//! enums with the same conventions.

/// An enum of named values: `NAMES`, `as_str`, `FromStr` (one-line error), `Display`, and serde
/// as the plain name.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $key:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value's name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The name as written in TOML and on the command line.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(s: &str) -> $crate::Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::Error::param(
                        $key,
                        format!("unknown {} `{other}` ({})", $key, Self::NAMES.join(", ")),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(|_| {
                    serde::de::Error::custom(format!(
                        "unknown {} `{s}` ({})",
                        $key,
                        Self::NAMES.join(", ")
                    ))
                })
            }
        }
    };
}

pub(crate) use named_enum;

/// Parsing with a one-line error that lists the names, `Display`, and serde as the plain name,
/// for an enum with `ALL` and `as_str` — the registries' enums ([`crate::zoo::Method`],
/// [`crate::solver::layer::LayerSolver`]), whose names their files declare.
macro_rules! by_name {
    ($name:ident, $key:literal, $what:literal) => {
        impl std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(s: &str) -> $crate::Result<Self> {
                $name::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        $crate::Error::param(
                            $key,
                            format!(
                                "unknown {} `{}` ({})",
                                $what,
                                s.escape_debug(),
                                names.join(", ")
                            ),
                        )
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                s.parse()
                    .map_err(|e: $crate::Error| serde::de::Error::custom(e.to_string()))
            }
        }
    };
}

pub(crate) use by_name;
