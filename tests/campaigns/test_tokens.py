import pytest

from campaigns import tokens


def test_it_reads_back_what_it_made():
    assert tokens.read(tokens.CLICK, tokens.make(tokens.CLICK, 123456, 7), count=2) == (123456, 7)


def test_it_refuses_an_altered_id():
    token = tokens.make(tokens.OPEN, 41)
    forged = "12" + token[token.index(".") :]
    with pytest.raises(tokens.BadToken):
        tokens.read(tokens.OPEN, forged)


def test_it_refuses_a_token_made_for_another_use():
    with pytest.raises(tokens.BadToken):
        tokens.read(tokens.OPT_OUT, tokens.make(tokens.OPEN, 41))


@pytest.mark.parametrize("garbage", ["", "abc", "1.", ".x", "zz.zz", "1-2.AAAA"])
def test_it_refuses_garbage(garbage):
    with pytest.raises(tokens.BadToken):
        tokens.read(tokens.OPEN, garbage)


def test_it_accepts_tokens_signed_with_a_fallback_key(settings):
    token = tokens.make(tokens.OPEN, 9)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-after-rotation-0123456789abcdefghijklmnop"
    assert tokens.read(tokens.OPEN, token) == (9,)
