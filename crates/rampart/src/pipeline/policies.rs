//! A pipeline's policies, outermost first, each in a fixed place inside the pipeline's
//! shared state.
//!
//! A stage looks up the policy at its depth on every poll. In a list behind a pointer
//! that is a load of the pointer, a bounds check against the length and a load through
//! it; here the depth of a stage is a constant once its code is inlined, so the lookup
//! is one load at a fixed offset and the tag check the stage makes anyway.

use std::fmt;

use super::{Policy, MAX_POLICIES};

/// Up to [`MAX_POLICIES`] policies, outermost first; the places after the last are
/// empty.
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

    /// The policy at `depth` (0 is the outermost), if there is one.
    #[inline(always)]
    pub(crate) fn get(&self, depth: usize) -> Option<&Policy> {
        self.places.get(depth).and_then(Option::as_ref)
    }

    /// The policies, outermost first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.places.iter().map_while(Option::as_ref)
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
    fn a_full_list_fills_every_place() {
        let p = Policies::new((0..MAX_POLICIES as u64).map(timeout).collect());
        assert_eq!(p.iter().count(), MAX_POLICIES);
        assert_eq!(
            p.get(MAX_POLICIES - 1).and_then(millis),
            Some(MAX_POLICIES as u128 - 1)
        );
    }
}
