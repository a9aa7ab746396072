//! `saas`: the reference SaaS server.
fn main() {}
