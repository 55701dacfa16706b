use proc_macro::TokenStream; #[proc_macro_derive(ApiError, attributes(api))] pub fn d(_: TokenStream) -> TokenStream { TokenStream::new() }
