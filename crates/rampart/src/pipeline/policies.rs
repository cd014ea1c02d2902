//! A pipeline's policies, outermost first, each in a fixed place inside the pipeline's
//! shared state.
//!
//! A stage looks up the policy at its depth on every poll. In a list behind a pointer
//! that is a load of the pointer, a bounds check against the length and a load through
//! it; here the depth of a stage is a constant once its code is inlined, so the lookup
//! is one load at a fixed offset and the tag check the stage makes anyway.
//!
//! A pipeline whose stages are typed by their place (see [`typed`](super::typed)) may
//! leave places empty: its policies sit where their stages expect them, and a stage
//! whose place is empty passes the call through.

use std::fmt;

use super::{Policy, MAX_POLICIES};

/// Up to [`MAX_POLICIES`] policies, outermost first, in places that may be empty.
pub(crate) struct Policies {
    places: [Option<Policy>; MAX_POLICIES],
}

impl Policies {
    /// The policies of `list`, in order: the first [`MAX_POLICIES`] of them (a builder
    /// refuses longer lists before it gets here).
    pub(crate) fn new(list: Vec<Policy>) -> Self {
        let mut list = list.into_iter();
        Policies {
            places: std::array::from_fn(|_| list.next()),
        }
    }

    /// The policies of `list`, in order, in the places `at` names (one per policy,
    /// ascending, each below [`MAX_POLICIES`]); the other places are empty.
    pub(crate) fn placed(list: Vec<Policy>, at: &[usize]) -> Self {
        // Its one caller gives every policy a place; the tests of the typed stages check
        // each shape's places.
        debug_assert!(list.len() == at.len() && at.iter().all(|&i| i < MAX_POLICIES));
        let mut places: [Option<Policy>; MAX_POLICIES] = std::array::from_fn(|_| None);
        for (policy, &i) in list.into_iter().zip(at) {
            if let Some(place) = places.get_mut(i) {
                *place = Some(policy);
            }
        }
        Policies { places }
    }

    /// The policy at `depth` (0 is the outermost), if there is one.
    #[inline(always)]
    pub(crate) fn get(&self, depth: usize) -> Option<&Policy> {
        self.places.get(depth).and_then(Option::as_ref)
    }

    /// The first policy at `depth` or deeper, and its place.
    pub(crate) fn next_from(&self, depth: usize) -> Option<(usize, &Policy)> {
        let rest = self.places.get(depth..)?;
        rest.iter()
            .enumerate()
            .find_map(|(i, p)| p.as_ref().map(|p| (depth + i, p)))
    }

    /// The policies, outermost first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.places.iter().flatten()
    }
}

impl fmt::Debug for Policies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeout::Span;
    use std::time::Duration;

    fn timeout(ms: u64) -> Policy {
        Policy::Timeout(Span::new(Duration::from_millis(ms)))
    }

    fn millis(p: &Policy) -> Option<u128> {
        match p {
            Policy::Timeout(s) => Some(s.duration().as_millis()),
            _ => None,
        }
    }

    #[test]
    fn policies_keep_their_order_and_nothing_follows_the_last() {
        let p = Policies::new(vec![timeout(1), timeout(2), timeout(3)]);
        let listed: Vec<_> = p.iter().filter_map(millis).collect();
        assert_eq!(listed, [1, 2, 3]);
        assert_eq!(p.get(0).and_then(millis), Some(1));
        assert_eq!(p.get(2).and_then(millis), Some(3));
        assert!(p.get(3).is_none());
        assert!(p.get(MAX_POLICIES).is_none());
        assert!(p.get(usize::MAX).is_none());
        assert_eq!(Policies::new(Vec::new()).iter().count(), 0);
    }

    #[test]
    fn placed_policies_leave_the_other_places_empty() {
        let p = Policies::placed(vec![timeout(1), timeout(2)], &[1, 3]);
        assert!(p.get(0).is_none());
        assert_eq!(p.get(1).and_then(millis), Some(1));
        assert!(p.get(2).is_none());
        assert_eq!(p.get(3).and_then(millis), Some(2));
        let listed: Vec<_> = p.iter().filter_map(millis).collect();
        assert_eq!(listed, [1, 2]);
        let next = |d| p.next_from(d).map(|(at, p)| (at, millis(p)));
        assert_eq!(next(0), Some((1, Some(1))));
        assert_eq!(next(2), Some((3, Some(2))));
        assert_eq!(next(4), None);
        assert_eq!(next(usize::MAX), None);
    }

    #[test]
    fn a_full_list_fills_every_place() {
        let p = Policies::new((0..MAX_POLICIES as u64).map(timeout).collect());
        assert_eq!(p.iter().count(), MAX_POLICIES);
        assert_eq!(
            p.get(MAX_POLICIES - 1).and_then(millis),
            Some(MAX_POLICIES as u128 - 1)
        );
    }
}
