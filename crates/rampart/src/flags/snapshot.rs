//! The flags as a report reads them.

use serde::{Deserialize, Serialize};

/// Every flag of a registry at one moment, in name order.
///
/// Serialises as `{"flags":[{"name":"reviews","enabled":false,"default":true}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlagsSnapshot {
    /// The flags, in name order.
    pub flags: Vec<FlagState>,
}

impl FlagsSnapshot {
    /// The state of the flag `name`, if it is in the snapshot.
    pub fn get(&self, name: &str) -> Option<&FlagState> {
        self.flags.iter().find(|f| f.name == name)
    }

    /// The snapshot as JSON.
    pub fn to_json(&self) -> String {
        crate::health::json(self)
    }
}

/// One flag in a [`FlagsSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FlagState {
    /// Its name.
    pub name: String,
    /// Whether it is on.
    pub enabled: bool,
    /// The default it was defined with.
    pub default: bool,
}
