//! Corruption detection (issue 4): finds incidents in a timeline.
