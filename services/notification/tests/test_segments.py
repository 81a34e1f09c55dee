"""SMS segments are counted the way the network splits the text, since each segment is billed."""
import pytest

from bookflow_notification.segments import measure


@pytest.mark.parametrize(("length", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)])
def test_plain_text_fits_160_characters_in_one_sms_and_153_per_segment_after(length, segments):
    size = measure("a" * length)
    assert (size.encoding, size.units, size.segments) == ("gsm-7", length, segments)


def test_nordic_and_dutch_letters_stay_in_the_gsm_alphabet():
    size = measure("Hej Åsa Öberg, Ærø ØÆ åäö ÄÖ é ü Ñ ß — ")
    assert size.encoding == "ucs-2"  # the em dash is not GSM
    size = measure("Hej Åsa Öberg, Ærø ØÆ åäö ÄÖ é ü Ñ ß. Välkommen kl 09:00 @ verkstan!")
    assert size.encoding == "gsm-7"
    assert size.segments == 1


def test_extension_characters_cost_two_septets():
    assert measure("€" * 80).units == 160
    assert measure("€" * 80).segments == 1
    assert measure("€" * 80 + "a").segments == 2
    assert measure("[]{}~^|\\").units == 16


def test_an_escape_pair_is_never_split_across_two_segments():
    # 152 plain septets, then a euro sign (2 septets) would straddle the segment border at 153
    text = "a" * 152 + "€" + "a" * 10
    assert measure(text).units == 164
    assert measure(text).segments == 2
    # 306 septets would fill exactly two segments were the pair allowed to split
    tight = "a" * 152 + "€" + "a" * 152
    assert measure(tight).units == 306
    assert measure(tight).segments == 3


@pytest.mark.parametrize(("length", "segments"), [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_any_character_outside_gsm_makes_the_text_ucs2_with_70_and_67(length, segments):
    size = measure("ł" * length)
    assert (size.encoding, size.units, size.segments) == ("ucs-2", length, segments)


def test_emoji_take_two_units_and_are_never_split():
    assert measure("😀" * 35).units == 70
    assert measure("😀" * 35).segments == 1
    assert measure("😀" * 36).segments == 2
    assert measure("ł" * 66 + "😀").segments == 1  # 68 units fit one unsplit SMS
    assert measure("ł" * 66 + "😀" + "ł" * 66).units == 134  # two segments' worth, split needs three
    assert measure("ł" * 66 + "😀" + "ł" * 66).segments == 3


def test_typographic_quotes_force_ucs2_but_straight_quotes_do_not():
    assert measure('Svara "OK"').encoding == "gsm-7"
    assert measure("Svara ”OK”").encoding == "ucs-2"


def test_an_empty_text_is_one_segment():
    assert measure("").segments == 1
