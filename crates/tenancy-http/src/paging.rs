//! `limit` and `cursor` for lists: a stable order, pages of 1 to 200.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::problem::ApiError;

pub(crate) const DEFAULT_LIMIT: u32 = 50;
pub(crate) const MAX_LIMIT: u32 = 200;

/// One page of `items` (already in their stable order) and the cursor of the next.
pub(crate) fn page<T>(
    items: Vec<T>,
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let offset = match cursor {
        None => 0,
        Some(cursor) => decode(cursor)
            .ok_or_else(|| ApiError::invalid("cursor", "not a cursor of this list"))?,
    };
    let limit = limit as usize;
    let total = items.len();
    let items: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let next = (offset + limit < total).then(|| encode(offset + limit));
    Ok((items, next))
}

/// A page type of a list, with the constructor that cuts the page.
macro_rules! list {
    ($(#[$meta:meta])* $name:ident, $item:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, poem_openapi::Object)]
        pub(crate) struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; `null` on the last page.
            #[oai(nullable)]
            pub next_cursor: Option<String>,
        }

        impl $name {
            /// The page of `items` (in their stable order) that `limit` and
            /// `cursor` ask for.
            pub(crate) fn of(
                items: Vec<$item>,
                limit: Option<u32>,
                cursor: Option<String>,
            ) -> std::result::Result<poem_openapi::payload::Json<Self>, crate::problem::ApiError> {
                let (items, next_cursor) = crate::paging::page(items, limit, cursor.as_deref())?;
                Ok(poem_openapi::payload::Json(Self { items, next_cursor }))
            }
        }
    };
}
pub(crate) use list;

fn encode(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o{offset}"))
}

fn decode(cursor: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix('o')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_list_once() {
        let items: Vec<u32> = (0..7).collect();
        let (first, next) = page(items.clone(), Some(3), None).unwrap();
        assert_eq!(first, [0, 1, 2]);
        let (second, next) = page(items.clone(), Some(3), next.as_deref()).unwrap();
        assert_eq!(second, [3, 4, 5]);
        let (third, next) = page(items.clone(), Some(3), next.as_deref()).unwrap();
        assert_eq!((third, next), (vec![6], None));
        assert!(page(items.clone(), Some(0), None).is_err());
        assert!(page(items.clone(), Some(201), None).is_err());
        assert!(page(items, None, Some("garbage!")).is_err());
    }
}
