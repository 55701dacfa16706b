#[derive(Debug, tollgate_axum::ApiError)]
enum E {
    #[api(code = "too_big", status = 400, message = "Too big")]
    TooBig { größe: u32 },
}
fn main() {}
