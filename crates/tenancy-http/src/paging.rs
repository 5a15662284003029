//! `limit` and `cursor` for lists: a stable order, pages of 1 to 200.

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

            /// The page of the core's `found`, each converted to its body.
            #[allow(dead_code, reason = "only the lists whose bodies convert with `From` use it")]
            pub(crate) fn from_each<'a, T: 'a>(
                found: impl IntoIterator<Item = &'a T>,
                limit: poem_openapi::param::Query<Option<u32>>,
                cursor: poem_openapi::param::Query<Option<String>>,
            ) -> std::result::Result<poem_openapi::payload::Json<Self>, crate::problem::ApiError>
            where
                $item: From<&'a T>,
            {
                Self::of(found.into_iter().map(<$item>::from).collect(), limit.0, cursor.0)
            }
        }
    };
}
pub(crate) use list;

/// Every cursor the server hands out, and exactly the strings it takes back:
/// the document publishes it, so that a schema-valid cursor is never refused
/// and every other one is. Opaque to clients all the same: its form may
/// change between versions.
pub(crate) const CURSOR_PATTERN: &str = "^o(0|[1-9][0-9]{0,8})$";

/// The limit and the key a keyset page starts after (a list read from the
/// store `limit + 1` rows at a time: the extra row says whether there is a
/// next page). The key travels in the same opaque form as an offset.
pub(crate) fn keyset(
    limit: Option<u32>,
    cursor: Option<&str>,
) -> Result<(usize, Option<usize>), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let key = cursor
        .map(|cursor| {
            decode(cursor).ok_or_else(|| ApiError::invalid("cursor", "not a cursor of this list"))
        })
        .transpose()?;
    Ok((limit as usize, key))
}

/// The cursor of a keyset page whose last item has `key`.
pub(crate) fn keyset_cursor(key: usize) -> String {
    encode(key)
}

fn encode(offset: usize) -> String {
    format!("o{offset}")
}

/// The offset of a cursor of [`CURSOR_PATTERN`]'s form; a cursor past the end
/// of the list is an empty page, like the end of any list.
fn decode(cursor: &str) -> Option<usize> {
    let digits = cursor.strip_prefix('o')?;
    let canonical = digits == "0"
        || (!digits.starts_with('0')
            && (1..=9).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit()));
    canonical.then(|| digits.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_takes_exactly_the_cursors_that_decode() {
        let pattern = regex::Regex::new(CURSOR_PATTERN).unwrap();
        for cursor in [
            "o0",
            "o1",
            "o50",
            "o999999999",
            "o00",
            "o05",
            "",
            "o",
            "x1",
            "o1a",
            "o1234567890",
        ] {
            assert_eq!(
                pattern.is_match(cursor),
                decode(cursor).is_some(),
                "{cursor:?}"
            );
        }
        assert_eq!(decode(&encode(150)), Some(150));
    }

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
        assert!(page(items.clone(), None, Some("garbage!")).is_err());
        for refused in ["", "o", "o01", "o-1", "o+1", "o1234567890", "p1", "o1 "] {
            assert!(
                page(items.clone(), None, Some(refused)).is_err(),
                "{refused:?}"
            );
        }
        let (past_the_end, next) = page(items, None, Some("o999999999")).unwrap();
        assert_eq!((past_the_end, next), (vec![], None));
    }
}
