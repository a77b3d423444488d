//! Group membership as a delta, so large groups never need their member list loaded.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::Value;

/// Who is in a group now, as the store knows it. The engine asks only `contains` for adds
/// and removes (O(log n) with an index); `ids` is needed only to replace or clear the whole
/// list.
pub trait MemberIndex {
    /// Whether the member with this id (`members.value`) is in the group.
    fn contains(&self, id: &str) -> bool;
    /// Every member id (used by `replace` and `remove` of the whole list).
    fn ids(&self) -> Vec<String>;
}

impl MemberIndex for BTreeSet<String> {
    fn contains(&self, id: &str) -> bool {
        Self::contains(self, id)
    }

    fn ids(&self) -> Vec<String> {
        self.iter().cloned().collect()
    }
}

impl<S: std::hash::BuildHasher> MemberIndex for HashSet<String, S> {
    fn contains(&self, id: &str) -> bool {
        Self::contains(self, id)
    }

    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.iter().cloned().collect();
        ids.sort();
        ids
    }
}

/// The change a PATCH makes to a group's members: exact, relative to the members before it
/// (a member added and removed again leaves no trace; adding a present member or removing an
/// absent one is nothing).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MemberDelta {
    /// Members to add, by id, with the value sent (`value`, `$ref`, `type`, `display`).
    pub added: BTreeMap<String, Value>,
    /// Ids of members to remove.
    pub removed: BTreeSet<String>,
}

impl MemberDelta {
    /// Whether membership changes.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// The delta as JSON: `{"added": [...], "removed": [...]}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "added": self.added.values().cloned().collect::<Vec<_>>(),
            "removed": self.removed.iter().cloned().collect::<Vec<_>>(),
        })
    }
}

/// Membership being changed against an index: the delta so far.
pub(crate) struct Members<'a> {
    index: &'a dyn MemberIndex,
    pub(crate) delta: MemberDelta,
}

impl<'a> Members<'a> {
    pub(crate) fn new(index: &'a dyn MemberIndex) -> Self {
        Self {
            index,
            delta: MemberDelta::default(),
        }
    }

    /// Whether `id` is a member after the changes so far.
    pub(crate) fn present(&self, id: &str) -> bool {
        self.delta.added.contains_key(id)
            || (self.index.contains(id) && !self.delta.removed.contains(id))
    }

    pub(crate) fn add(&mut self, id: String, value: Value) {
        if self.present(&id) {
            return;
        }
        if !self.delta.removed.remove(&id) {
            self.delta.added.insert(id, value);
        }
    }

    pub(crate) fn remove(&mut self, id: &str) {
        if self.delta.added.remove(id).is_none() && self.index.contains(id) {
            self.delta.removed.insert(id.to_owned());
        }
    }

    pub(crate) fn clear(&mut self) {
        self.delta.added.clear();
        self.delta.removed = self.index.ids().into_iter().collect();
    }
}
