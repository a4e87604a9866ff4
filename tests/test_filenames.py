import pandas as pd
import pytest

from darkmodel.io.filenames import parse_filename, select_current


@pytest.mark.parametrize(
    "name, phase, cycle, orbit, mode, channel",
    [
        ("mvn_iuv_l1a_checkout-muvdark_20131204T190217_v00_r00.fits.gz", "checkout", None, None, None, "muvdark"),
        ("mvn_iuv_l1a_ISON1-cycle01-mode01-fuv_20131120T101010_v01_r01.fits", "ISON1", 1, None, 1, "fuv"),
        ("mvn_iuv_l1a_IPH2-cycle00103-mode040-muvdark_20140527T154453_v00_r00.fits.gz", "IPH2", 103, None, 40, "muvdark"),
        ("mvn_iuv_l1a_cruisecal2-mode080-muv_20140521T120000_v02_r01.fits.gz", "cruisecal2", None, None, 80, "muv"),
        ("mvn_iuv_l1a_early-orbit00003-mode001-fuvdark_20140925T121939_v02_r01.fits.gz", "early", None, 3, 1, "fuvdark"),
        ("mvn_iuv_l1a_outbound-orbit00107-mode1001-fuvdark_20141018T000000_v02_s03.fits.gz", "outbound", None, 107, 1001, "fuvdark"),
        ("mvn_iuv_l1a_apoapse-orbit18001-muvdark_20230114T071415_v13_r01.fits.gz", "apoapse", None, 18001, None, "muvdark"),
        ("mvn_iuv_l1a_-orbit01580-fuvdark_20150722T162500_v02_r01.fits.gz", "", None, 1580, None, "fuvdark"),
        ("mvn_iuv_l1a_relay-echelle-orbit24924-echdark_20251202T172148_v13_r01.fits.gz", "relay-echelle", None, 24924,
         None, "echdark"),
        ("mvn_iuv_l1a_apoapse-orbit01300-fuv_20150601t003623_v02_r01", "apoapse", None, 1300, None, "fuv"),
    ],
)
def test_parse_every_name_variant(name, phase, cycle, orbit, mode, channel):
    f = parse_filename("/some/folder/" + name)
    assert (f.phase, f.cycle, f.orbit, f.mode, f.channel) == (phase, cycle, orbit, mode, channel)
    assert f.product_id == name.removesuffix(".gz").removesuffix(".fits")
    assert f.product_key == f.product_id[:-8]


def test_parse_version_time_and_channel():
    f = parse_filename("mvn_iuv_l1a_periapse-orbit00108-muvdark_20141018T112844_v02_s10.fits.gz")
    assert f.version == 2 and f.revision == 10 and not f.production
    assert f.time == pd.Timestamp("2014-10-18 11:28:44")
    assert f.xuv == "MUV" and f.is_dark and f.version_string == "v02_s10" and f.level == "l1a"


@pytest.mark.parametrize("bad", ["notes.txt", "mvn_iuv_l1a_apoapse-orbit1-fuvdark_2015_v02_r01.fits",
                                 "mvn_iuv_l1a_apoapse-orbit00626-xuvdark_20150125T153302_v02_r01.fits"])
def test_parse_rejects_other_names(bad):
    with pytest.raises(ValueError, match="not an IUVS product file name"):
        parse_filename(bad)


def test_select_current_follows_lasp_rule():
    base = "mvn_iuv_l1a_comet-orbit00106-mode0041-fuv_20141018T060032"
    names = [f"{base}_v01_r01.fits.gz", f"{base}_v02_s10.fits.gz", f"{base}_v02_s02.fits.gz",
             f"{base}_v02_r01.fits.gz", "unrelated.txt"]
    # production r beats stage s at equal version; AYE's lexicographic max would pick v02_s10
    assert select_current(names) == [f"{base}_v02_r01.fits.gz"]
    assert select_current(names[:3]) == [f"{base}_v02_s10.fits.gz"]
    other = "mvn_iuv_l1a_apoapse-orbit00500-muvdark_20150101T000000"
    picked = select_current([f"{other}_v02_r01.fits", f"{other}_v02_r02.fits", f"{other}_v13_r01.fits",
                             f"{base}_v01_r01.fits"])
    assert picked == [f"{other}_v13_r01.fits", f"{base}_v01_r01.fits"]


def test_the_arrow_parse_equals_the_python_regex_parse():
    import numpy as np
    import pandas as pd

    from darkmodel.io.filenames import _NAME, _stamp_times

    def _stamp_times_pandas(names):  # the reference: pandas with Python's regex engine
        base = pd.Series(names, dtype="string").str.rsplit("/", n=1).str[-1]
        parts = base.str.extract(_NAME)
        stamp = parts["date"] + "T" + parts["time"]
        return pd.to_datetime(stamp, format="%Y%m%dT%H%M%S", errors="coerce").to_numpy()

    names = np.array(["mvn_iuv_l1a_apoapse-orbit18001-muvdark_20230114T071415_v13_r01.fits.gz",
                      "/deep/path/mvn_iuv_l1a_IPH2-cycle00103-mode040-muvdark_20140527T154453_v00_r00.fits.gz",
                      "not an iuvs name", "mvn_iuv_l1a_x-fuv_20231314T071415_v13_r01.fits",  # month 13
                      "mvn_iuv_l1a_x-fuv_20230114t071415_v13_s02", ""], dtype=object)
    arrow, python = _stamp_times(names), _stamp_times_pandas(names)
    assert (pd.isna(arrow) == pd.isna(python)).all()
    assert (arrow[~pd.isna(arrow)] == python[~pd.isna(python)]).all()
    assert pd.Timestamp(arrow[1]) == pd.Timestamp("2014-05-27 15:44:53") and pd.isna(arrow[3])
