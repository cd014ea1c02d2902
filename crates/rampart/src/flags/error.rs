//! What can go wrong when defining, reading or flipping a flag.

use std::fmt;

/// A flag operation that could not be done. Never a panic: an unknown name or a store
/// that refuses a write comes back as one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlagError {
    /// No flag of this name was [defined](super::Flags::define).
    Unknown {
        /// The name asked for.
        name: String,
    },
    /// The name is empty, longer than [`MAX_NAME_LEN`](super::MAX_NAME_LEN) bytes, or
    /// holds a character other than ASCII letters, digits, `_`, `-`, `.` and `:`.
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The [`FlagStore`](super::FlagStore) refused to store the value; the flag keeps
    /// its old value.
    Store {
        /// The flag being set.
        name: String,
        /// What the store said.
        message: String,
    },
}

impl FlagError {
    /// The flag name the error is about.
    pub fn name(&self) -> &str {
        match self {
            FlagError::Unknown { name }
            | FlagError::InvalidName { name }
            | FlagError::Store { name, .. } => name,
        }
    }
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::Unknown { name } => write!(f, "unknown flag {name:?}"),
            FlagError::InvalidName { name } => write!(
                f,
                "invalid flag name {name:?}: use 1 to {} ASCII letters, digits, '_', '-', '.' or ':'",
                super::MAX_NAME_LEN
            ),
            FlagError::Store { name, message } => {
                write!(f, "flag store refused {name:?}: {message}")
            }
        }
    }
}

impl std::error::Error for FlagError {}
