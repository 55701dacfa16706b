//! Bad `#[api(...)]` attributes fail to compile with a message that says
//! what is wrong and where.

#[test]
fn bad_attributes_are_rejected() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
