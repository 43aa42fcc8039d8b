"""Host-side tests of wasm_listeners' pure parts (no componentize-py bindings needed):

    python -m unittest discover guest-sdk/python
"""

import json
import pathlib
import unittest

from wasm_listeners import (
    Change,
    Event,
    Permanent,
    Settings,
    SettingsError,
    Transient,
    to_json,
)

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "kinto-events"


def fixture(name: str) -> list:
    return json.loads((FIXTURES / name).read_text())


class PayloadTests(unittest.TestCase):
    def test_payload_json_is_what_kinto_redis_pushed(self):
        # Each scenario's first event against the entry kinto-redis pushed for it, as the
        # Rust queue-forward example's test does.
        checked = 0
        for entry in fixture("redis-queue-entries.json"):
            events = fixture(entry["scenario"] + ".json")
            if len(entry["lrange"]) != 1:
                continue  # reads and failed requests push nothing
            with self.subTest(entry["scenario"]):
                event = Event.from_kinto(events[0])
                self.assertEqual(event.payload_json(), entry["lrange"][0])
                checked += 1
        self.assertGreater(checked, 20)

    def test_payload_keeps_kintos_order_and_a_null_user_id(self):
        event = Event.from_kinto(fixture("account-create.json")[0])
        self.assertIsNone(event.user_id)
        self.assertEqual(
            list(event.payload()),
            ["timestamp", "action", "uri", "user_id", "resource_name"],
        )
        self.assertIn('"user_id":null', event.payload_json())

    def test_ids_come_before_extras_and_non_string_ids_stay_extras(self):
        payload = {
            "timestamp": 1,
            "action": "update",
            "uri": "/x",
            "user_id": "u",
            "record_id": 5,
            "resource_name": "record",
            "bucket_id": "b",
            "extra": {"b": 1, "a": 2},
        }
        event = Event.from_kinto({"payload": payload})
        self.assertFalse(event.objects_given)
        self.assertEqual(event.extras, {"record_id": 5, "extra": {"b": 1, "a": 2}})
        expected = (
            '{"timestamp":1,"action":"update","uri":"/x","user_id":"u",'
            '"resource_name":"record","bucket_id":"b","record_id":5,"extra":{"b":1,"a":2}}'
        )
        self.assertEqual(event.payload_json(), expected)

    def test_to_json_writes_text_and_floats_as_serde_json(self):
        self.assertEqual(to_json("é ☃ \"q\" \\ \n\t\x01"), '"é ☃ \\"q\\" \\\\ \\n\\t\\u0001"')
        floats = [1e-5, -2.5e-5, 1.5e-7, 1e16, 0.1, -0.0, 1e15, 1e-4, 2.5e-300]
        expected = "[0.00001,-0.000025,1.5e-7,1e+16,0.1,-0.0,1000000000000000.0,0.0001,2.5e-300]"
        self.assertEqual(to_json(floats), expected)
        big = "[18446744073709551615,1.8446744073709552e+19,null,true]"
        self.assertEqual(to_json([2**64 - 1, 2**64, None, True]), big)


class ObjectsTests(unittest.TestCase):
    def test_change_id_prefers_new_then_old(self):
        self.assertEqual(Change('{"id":"b"}', '{"id":"a"}').id, "b")
        self.assertEqual(Change('{"title":"light"}', '{"id":"a"}').id, "a")
        self.assertIsNone(Change('{"id":3}').id)

    def test_batch_changes_carry_each_objects_id(self):
        event = Event.from_kinto(fixture("batch-create-put.json")[0])
        self.assertEqual(event.record_id, "b1")
        self.assertEqual([change.id for change in event.changes], ["b1", "b2", "b3"])
        self.assertIsNone(event.changes[0].old)

    def test_read_objects_are_parsed(self):
        event = Event.from_kinto(fixture("records-list.json")[0])
        self.assertEqual(event.action, "read")
        self.assertEqual(event.changes, [])
        self.assertTrue(all(isinstance(obj, dict) for obj in event.read_objects))


class SettingsAndErrorsTests(unittest.TestCase):
    def test_require_names_missing_and_blank_keys(self):
        settings = Settings([("from", "a@x"), ("to", "  ")])
        self.assertEqual(settings.require("from"), "a@x")
        with self.assertRaisesRegex(SettingsError, "^setting `to` is empty$"):
            settings.require("to")
        with self.assertRaises(Permanent) as raised:
            settings.require("cc")
        self.assertEqual(raised.exception.message, "missing required setting `cc`")

    def test_first_duplicate_wins(self):
        settings = Settings([("k", "1"), ("a", "2"), ("k", "3")])
        self.assertEqual(settings.get("k"), "1")
        self.assertEqual(settings.get("x", "default"), "default")
        self.assertEqual(settings.all(), {"k": "1", "a": "2"})

    def test_error_kinds(self):
        self.assertTrue(Transient("later").transient)
        self.assertFalse(Permanent("never").transient)
        self.assertFalse(SettingsError("missing").transient)


if __name__ == "__main__":
    unittest.main()
