import uuid

from provider.uuid4 import uuid4


def test_version_4_uuids_as_the_uuid_module_reads_them() -> None:
    made = [uuid4() for _ in range(200)]
    assert len(set(made)) == 200
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
