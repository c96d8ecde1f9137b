import cloudbench


def test_public_api_resolves_every_name():
    for name in cloudbench.__all__:
        assert getattr(cloudbench, name) is not None, name


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError):
        cloudbench.no_such_thing  # noqa: B018
