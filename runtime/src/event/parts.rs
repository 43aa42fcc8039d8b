//! Splitting an event whose objects are too large for one call into parts (WIT `part`).

use super::{Change, Event, Objects};

impl Event {
    /// The number of objects: changes or read objects; 0 for [`Objects::NotGiven`].
    pub fn objects_len(&self) -> usize {
        match &self.objects {
            Objects::NotGiven => 0,
            Objects::Changes(changes) => changes.len(),
            Objects::Read(read) => read.len(),
        }
    }

    /// The size of the objects: the sum of the lengths of their JSON texts (`old` and
    /// `new` of each change).
    pub fn objects_bytes(&self) -> usize {
        match &self.objects {
            Objects::NotGiven => 0,
            Objects::Changes(changes) => changes.iter().map(change_bytes).sum(),
            Objects::Read(read) => read.iter().map(String::len).sum(),
        }
    }

    /// The parts in which to deliver this event when each call may carry at most
    /// `max_objects_bytes` of objects: events with the same payload and consecutive slices
    /// of the objects, in order, each slice as large as fits. Every part holds at least one
    /// object: an object larger than the limit goes alone, it is never dropped. An event
    /// without objects, or whose objects fit, is one part (a clone of itself).
    pub fn split(&self, max_objects_bytes: usize) -> Vec<Event> {
        if self.objects_bytes() <= max_objects_bytes {
            return vec![self.clone()];
        }
        match &self.objects {
            Objects::NotGiven => vec![self.clone()],
            Objects::Changes(changes) => slices(changes, max_objects_bytes, change_bytes)
                .into_iter()
                .map(|slice| self.with_objects(Objects::Changes(slice.to_vec())))
                .collect(),
            Objects::Read(read) => slices(read, max_objects_bytes, String::len)
                .into_iter()
                .map(|slice| self.with_objects(Objects::Read(slice.to_vec())))
                .collect(),
        }
    }

    /// This event's payload with other objects (without cloning the current ones).
    fn with_objects(&self, objects: Objects) -> Event {
        Event {
            action: self.action,
            resource_name: self.resource_name.clone(),
            uri: self.uri.clone(),
            timestamp: self.timestamp,
            user_id: self.user_id.clone(),
            bucket_id: self.bucket_id.clone(),
            collection_id: self.collection_id.clone(),
            group_id: self.group_id.clone(),
            record_id: self.record_id.clone(),
            extras: self.extras.clone(),
            objects,
        }
    }
}

fn change_bytes(change: &Change) -> usize {
    change.old.as_ref().map_or(0, String::len) + change.new.len()
}

/// Cuts `items` into consecutive slices of at most `max` bytes each, except that a slice
/// always holds at least one item.
fn slices<T>(items: &[T], max: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut slices = Vec::new();
    let (mut start, mut bytes) = (0, 0_usize);
    for (index, item) in items.iter().enumerate() {
        let item_bytes = size(item);
        if index > start && bytes.saturating_add(item_bytes) > max {
            slices.push(&items[start..index]);
            (start, bytes) = (index, 0);
        }
        bytes = bytes.saturating_add(item_bytes);
    }
    if start < items.len() {
        slices.push(&items[start..]);
    }
    slices
}

#[cfg(test)]
mod tests {
    use super::super::{Action, Change, Event, Objects};

    fn event(objects: Objects) -> Event {
        Event {
            action: Action::Create,
            resource_name: "record".into(),
            uri: "/buckets/b/collections/c/records".into(),
            timestamp: 1,
            user_id: Some("account:carol".into()),
            bucket_id: Some("b".into()),
            collection_id: Some("c".into()),
            group_id: None,
            record_id: None,
            extras: vec![("x".into(), "1".into())],
            objects,
        }
    }

    /// Read objects of the given sizes, each text distinct (`"0.."`, `"1.."`, ...).
    fn read_of_sizes(sizes: &[usize]) -> Event {
        let texts = sizes.iter().enumerate().map(|(i, &n)| format!("{i:0n$}"));
        event(Objects::Read(texts.collect()))
    }

    fn sizes(parts: &[Event]) -> Vec<Vec<usize>> {
        let read = |part: &Event| match &part.objects {
            Objects::Read(read) => read.iter().map(String::len).collect(),
            other => panic!("expected read objects, got {other:?}"),
        };
        parts.iter().map(read).collect()
    }

    /// The parts' objects, concatenated, are the original ones, and each part keeps the
    /// payload.
    fn assert_complete(original: &Event, parts: &[Event]) {
        let mut joined = Vec::new();
        for part in parts {
            assert_eq!(
                part.with_objects(Objects::NotGiven),
                original.with_objects(Objects::NotGiven)
            );
            match &part.objects {
                Objects::Read(read) => joined.extend(read.iter().cloned().map(Err)),
                Objects::Changes(changes) => joined.extend(changes.iter().cloned().map(Ok)),
                Objects::NotGiven => panic!("a part lost its objects"),
            }
        }
        let expected: Vec<Result<Change, String>> = match &original.objects {
            Objects::Read(read) => read.iter().cloned().map(Err).collect(),
            Objects::Changes(changes) => changes.iter().cloned().map(Ok).collect(),
            Objects::NotGiven => Vec::new(),
        };
        assert_eq!(joined, expected);
    }

    #[test]
    fn fitting_event_is_one_part() {
        let whole = read_of_sizes(&[3, 3, 4]);
        assert_eq!(whole.objects_bytes(), 10);
        assert_eq!(whole.split(10), vec![whole.clone()]);
        assert_eq!(whole.split(usize::MAX), vec![whole]);
    }

    #[test]
    fn one_byte_over_splits_at_the_boundary() {
        let whole = read_of_sizes(&[3, 3, 4]);
        let parts = whole.split(9);
        assert_eq!(sizes(&parts), vec![vec![3, 3], vec![4]]);
        assert_complete(&whole, &parts);
    }

    #[test]
    fn slices_are_as_large_as_fits() {
        let whole = read_of_sizes(&[2, 2, 2, 2, 2, 1]);
        let parts = whole.split(4);
        assert_eq!(sizes(&parts), vec![vec![2, 2], vec![2, 2], vec![2, 1]]);
        assert_complete(&whole, &parts);
    }

    #[test]
    fn huge_object_goes_alone_and_is_kept() {
        let whole = read_of_sizes(&[2, 50, 2, 2, 60]);
        let parts = whole.split(4);
        assert_eq!(sizes(&parts), vec![vec![2], vec![50], vec![2, 2], vec![60]]);
        assert_complete(&whole, &parts);
    }

    #[test]
    fn zero_limit_gives_one_object_per_part() {
        let whole = read_of_sizes(&[1, 1, 1]);
        assert_eq!(sizes(&whole.split(0)), vec![vec![1], vec![1], vec![1]]);
    }

    #[test]
    fn changes_count_old_and_new_in_order() {
        let change = |i: usize| Change {
            old: i
                .is_multiple_of(2)
                .then(|| format!("{{\"id\":\"{i}\",\"v\":0}}")),
            new: format!("{{\"id\":\"{i}\",\"v\":1}}"),
        };
        let whole = event(Objects::Changes((0..7).map(change).collect()));
        assert_eq!(whole.objects_len(), 7);
        // old + new = 32 bytes for even i, new alone = 16 for odd i.
        assert_eq!(whole.objects_bytes(), 4 * 32 + 3 * 16);
        let parts = whole.split(48);
        let lens: Vec<usize> = parts.iter().map(Event::objects_len).collect();
        assert_eq!(lens, vec![2, 2, 2, 1]);
        assert!(parts.iter().all(|part| part.objects_bytes() <= 48));
        assert_complete(&whole, &parts);
    }

    #[test]
    fn not_given_and_empty_lists_are_one_part() {
        for objects in [
            Objects::NotGiven,
            Objects::Read(vec![]),
            Objects::Changes(vec![]),
        ] {
            let whole = event(objects);
            assert_eq!(whole.objects_len(), 0);
            assert_eq!(whole.objects_bytes(), 0);
            assert_eq!(whole.split(0), vec![whole.clone()]);
        }
    }
}
