//! Storage benchmark (work in progress).
fn main() {}
