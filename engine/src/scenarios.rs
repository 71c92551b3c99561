//! Synthetic bucket histories, healthy and damaged, for the detector's tests and evaluation.
