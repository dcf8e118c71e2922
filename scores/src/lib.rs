//! stein-scores (in progress).
#![deny(missing_docs)]
