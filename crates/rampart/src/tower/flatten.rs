//! [`Error::flatten`]: one error level for stacked layers.

use crate::error::Error;

impl<E> Error<Error<E>> {
    /// Merges the error of one rampart layer stacked on another into one level: the
    /// outer layer's rejection or the inner layer's error as it was.
    ///
    /// Policies inside one [`Pipeline`](crate::Pipeline) never nest their errors; a
    /// per-policy layer stacked on another (or on a pipeline layer) does, and
    /// `ServiceBuilder::map_err(Error::flatten)` on top gives the one `Error<E>` back.
    ///
    /// ```
    /// use rampart::{Error, Rejection, RejectionKind};
    ///
    /// let inner: Error<Error<&str>> = Error::Operation(Error::Operation("503"));
    /// assert_eq!(inner.flatten(), Error::Operation("503"));
    /// let full = Rejection::new("svc".into(), "bulkhead", RejectionKind::BulkheadFull);
    /// let outer: Error<Error<&str>> = Error::Rejected(full.clone());
    /// assert_eq!(outer.flatten(), Error::Rejected(full));
    /// ```
    pub fn flatten(self) -> Error<E> {
        match self {
            Error::Operation(inner) => inner,
            Error::Rejected(r) => Error::Rejected(r),
        }
    }
}
