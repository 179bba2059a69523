//! The record kinds the simulator serves: a leaf module both the settings and the dataset use.

use serde::{Deserialize, Serialize};

use crate::simulator::rng::tag;

/// The record kinds the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Entity {
    /// `/api/Contact/Query[/FullContact]`, PK `id`.
    Contact,
    /// `/api/Gift/Query[/FullGift]`, PK `id`.
    Gift,
    /// `/api/Project/Query`, PK `id`.
    Project,
    /// `/api/Campaign/Query`, PK `campaignId`.
    Campaign,
}

impl Entity {
    /// Every entity, in a fixed order.
    pub const ALL: [Entity; 4] = [
        Entity::Contact,
        Entity::Gift,
        Entity::Project,
        Entity::Campaign,
    ];

    pub(crate) fn slot(self) -> usize {
        self as usize
    }

    pub(crate) fn tag(self) -> u64 {
        match self {
            Entity::Contact => tag(b"contact"),
            Entity::Gift => tag(b"gift"),
            Entity::Project => tag(b"project"),
            Entity::Campaign => tag(b"campaign"),
        }
    }

    /// The smallest id this entity can have; entities use separate id spaces like the API.
    pub(crate) fn id_base(self) -> u64 {
        match self {
            Entity::Contact => 1_000,
            Entity::Gift => 500_000,
            Entity::Project => 100,
            Entity::Campaign => 10,
        }
    }
}
