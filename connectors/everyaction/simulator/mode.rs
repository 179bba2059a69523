//! The two databases an API key can work in: a leaf module the settings and the data share.

use serde::{Deserialize, Serialize};

/// The database a key works in: the digit after `|` in the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Mode {
    /// `|0`: the voter file.
    MyVoters,
    /// `|1`: MyCampaign (EveryAction and MyMembers use it too).
    MyCampaign,
}

impl Mode {
    /// Both modes, in code order.
    pub const ALL: [Mode; 2] = [Mode::MyVoters, Mode::MyCampaign];

    /// The digit clients append to the key.
    pub fn code(self) -> u8 {
        match self {
            Mode::MyVoters => 0,
            Mode::MyCampaign => 1,
        }
    }

    /// The mode for a digit, if it is one.
    pub fn from_code(code: &str) -> Option<Mode> {
        match code {
            "0" => Some(Mode::MyVoters),
            "1" => Some(Mode::MyCampaign),
            _ => None,
        }
    }

    pub(crate) fn slot(self) -> usize {
        self.code() as usize
    }
}
