//! One page of a longer list, as every paged list answers (the admin API,
//! the CLI's `--json`): the items, how many match in all, and the offset
//! of the next page (`null` on the last one), so that nothing past the
//! first page goes unnoticed.

use serde::Serialize;

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    /// The items of this page, in the list's order.
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: i64,
    /// The offset to ask for next; `None` on the last page.
    pub next_offset: Option<i64>,
}

impl<T> Page<T> {
    /// The page of `items` found at `offset` among `total`.
    pub fn new(items: Vec<T>, offset: i64, total: i64) -> Self {
        let end = offset.max(0) + i64::try_from(items.len()).unwrap_or(i64::MAX);
        let next_offset = (!items.is_empty() && end < total).then_some(end);
        Page {
            items,
            total,
            next_offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Page;

    #[test]
    fn the_next_offset_is_given_until_the_last_page() {
        assert_eq!(Page::new(vec![1, 2], 0, 5).next_offset, Some(2));
        assert_eq!(Page::new(vec![3, 4], 2, 5).next_offset, Some(4));
        assert_eq!(Page::new(vec![5], 4, 5).next_offset, None);
        assert_eq!(Page::<i32>::new(vec![], 9, 5).next_offset, None);
    }
}
