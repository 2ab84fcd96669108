"""Where each real dataset comes from: URLs, checksums, licence terms, and whether a login is needed.

Provenance of the checksums (this catalogue was written on a machine without internet, so no source
below was fetched live while writing it):

- ISBI 2012: sha256 of the very files in ``data/membrane`` of github.com/zhixuhao/unet (master), as
  computed on a verified copy. Every file is verified.
- STARE: sha256 of the three tarballs as published by a third-party analysis script that pins them.
- ECSSD: sha256 and sizes of both zips as published by a third-party dataset downloader.
- CHASE_DB1: an md5 of ``CHASEDB1.zip`` published by a third-party dataset class (it may refer to an
  older copy of the same zip); its sha256 is recorded on first use.
- DUTS: no checksum is published anywhere we know of; both zips are verified "trust on first use".
- DRIVE: the official site requires a login; nothing is downloaded, the user gets instructions.

Files without a published sha256 are verified "trust on first use": their sha256 is computed,
printed and written to ``<dataset folder>/SHA256SUMS``, and later calls check against that record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SOURCES", "DatasetSource", "RemoteFile"]


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch. ``path`` is where it lands, relative to the dataset folder; an archive
    (``extract_to`` set) is kept under ``downloads/`` and unpacked into ``extract_to``."""

    url: str
    path: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    extract_to: str | None = None


@dataclass(frozen=True)
class DatasetSource:
    """A dataset's download recipe and terms."""

    name: str
    folder: str
    homepage: str
    licence: str
    files: tuple[RemoteFile, ...] = ()
    login_instructions: str | None = None  # set when the source needs an account
    checksum_note: str = ""
    stand_in: str = "synthetic-vessels"
    layout: str = field(default="", repr=False)


def _archive(base: str, file: str, extract_to: str | None = None, *, sha256: str | None = None,
             md5: str | None = None, size: int | None = None) -> RemoteFile:
    """The archive ``base + file``, kept as ``downloads/<file>`` and unpacked into ``extract_to``
    (default: the file name without its extension)."""
    unpack = extract_to or file.rsplit(".", 1)[0]
    return RemoteFile(base + file, f"downloads/{file}", sha256=sha256, md5=md5, size=size, extract_to=unpack)


_ISBI_BASE = "https://raw.githubusercontent.com/zhixuhao/unet/master/data/membrane/"
_ISBI_SHA256 = {
    "test/0.png": "3c67a0f520d6504eecffe20fc2799287cad05e3d8915466c4127ee8463db03b6",
    "test/1.png": "73b2d6c585dd130b9e04c06ce4f7dd2c21496bc760c6088b948933d7a3ff44d8",
    "test/2.png": "33d0ba0f00760a8223d33e0d00f1fbd8992783c216f9fc386a2c7d62a31a3263",
    "test/3.png": "0507ff479733fefcbc00c68dc1b848dd7c15546e49241414d5a05beaf2092fbf",
    "test/4.png": "c75debf18db3b7e4476712d28bb6925e1d3b99287fc8808a3f8611f1f1ac9e6c",
    "test/5.png": "e2756965f5f7162c9bee9f05d6a6856d0ca310c736644000234cae634883c8f6",
    "test/6.png": "832c23a05680902deec4efe639373892b2cdc83ecfcdd6bc7b90f6f1d474379c",
    "test/7.png": "e673e89ac632bc3f13ff6dcd9d0f733b39d6618f21f015ed4106e1f32b3518f1",
    "test/8.png": "8064a6d599edadb9ebd0d23b3fe1a61a0c165445e2dfc1289af4e16509424344",
    "test/9.png": "6fe32299f09cfbff582cb90a39d1bd9214614a675be99e6729686f3a4d9b5a5f",
    "test/10.png": "8f907e1cfc8593527fb48c7fe08ba80eb380e0bfc0cdfe5eec8da0044eec0309",
    "test/11.png": "27ae843bb0a63ceded00acb182469a20292d70d717dc16296e6e1ea3e760dc7f",
    "test/12.png": "eb9eacb4cd836e84a36655e59c67c6ffc9be860ade97e585d21b1caf721acb2b",
    "test/13.png": "f7d454b79c73789c644c56d38a1adc57614fd45bbdaaeab25ad84aa9f36188f1",
    "test/14.png": "5e68324d85e271a23fb96da4425d12fb182ccad885edf63b5a33a4929e9f3788",
    "test/15.png": "874d88be3e6fb24ff4cc70cae292ec27462365c418a332631cb2ab17bac1bb47",
    "test/16.png": "69e09074fd73e5e9458067e77ba1d42bb212c350413f01b64e5d7269a1130588",
    "test/17.png": "95468c5106091112bff1fe694f06ac7af5f1b052e700fcbbe4492bcdd8cf47bf",
    "test/18.png": "090accd8da157be1f739a2bde77335216209ec854351d18d7d328ea2d3065c6a",
    "test/19.png": "fe7e8dd86300e462c2574f1c409510bb8bcb8b3ceb3c2bb28583e7241ab22f05",
    "test/20.png": "260b6e3e43a1c63da9779992ca90e692cd04e854029ef2f964010daf58ff4daf",
    "test/21.png": "cd82df9e4f7aa44a8d1172d4bac6f50dd3bc6dd063c1b3ad65647c4bc7749042",
    "test/22.png": "242289a02a83161b98553606654c17868818bdea638bc25c1208298501b92bfa",
    "test/23.png": "496786c0636607b2e086528d517e00c4444270d40972940c70f7ca93cc0cc173",
    "test/24.png": "a1979d58bceac2cd352a4aeb7a047c0e92d94c52a3cbc60abac67bb7a68865a1",
    "test/25.png": "8a078743880a854f2127cc59425c5a47bbf348b31ac2524cf7621eb108748c5a",
    "test/26.png": "2643df636a202d53bdc870bd1239db761d1b586e048cb6ddeb83310c9b76f6f4",
    "test/27.png": "36c4983e85e127a622e395842642dd0762657831901e70ff94647f3f808e53fe",
    "test/28.png": "0c2d296e0cd652b69198e9399e91bf2693101e58a8c878c6fe5a902d2b9448c5",
    "test/29.png": "e417ddbdcfed6b08b1c97d5a7796ed5b167ccc4caaf1226dc41dbb69cd724e25",
    "train/image/0.png": "12c0ed6f42fc09f512abf6b354f217c950e4c8223b57a0315449b62a14556523",
    "train/image/1.png": "2cfc7ee635a6f85d5faf5c82a71d3a37bf5af4784b554964e3e07193e3ee2166",
    "train/image/2.png": "fe60d8d4f93102666a23a18d718b4b59fab8e616987d11c5072f4a87fac7301f",
    "train/image/3.png": "636d16cbb02f99dda4c9fb6db98dfba066142afa981ffdcfaf54453982e8250c",
    "train/image/4.png": "991fb3a8e4abc73da1d6159ca28fa4397f0a8351f30a8ba3669c86414d2ce239",
    "train/image/5.png": "7e9d9fb787664336d6f2cd68b23986f04527e7f8f494410983b4d70c6de1de3b",
    "train/image/6.png": "7c0a87933ffc72f4ff02f5996d9c3f69fe9a0b5277507415743ad8afb5e5d308",
    "train/image/7.png": "19f2c25716107d41008c83ba8a814ae47a090e00dea766dde38dce1f00899270",
    "train/image/8.png": "a8979e4abd1a10af9ca75e614d97875659adbd8ee3a68eba483bf556cfe3023d",
    "train/image/9.png": "730ebf435ab0f6e625d342552ad03736799fd660d0c6af744674c61a46aa082a",
    "train/image/10.png": "7c3717bcd48c4b7e5c878d7f0b809b8687a4e6fac471f3863de320a82ee72b8a",
    "train/image/11.png": "dd7857b25ca1417f87c282750e22c50947f75e81fa032d4e0c96b902c9dc9757",
    "train/image/12.png": "9f8eff9239bb764d51524a998387a7babcff9f62161804651b030b81aabd5ab8",
    "train/image/13.png": "377e5cdbcd7f0ac7336f482fc7ead7446887863f26769b3841fe98aadca77dad",
    "train/image/14.png": "f50d2d77acd2df564c5f0f40b1b24cd929f5944460aa4cd90c422cb5cef33a59",
    "train/image/15.png": "3e13fdea09accc14f46fb2f3ffa1e882cdd9c53b28a6842c4c10229692c7d1a4",
    "train/image/16.png": "ffc951c12450f94129582c16fd0d4b165c4a31469b0c42d966f07c183d3132e2",
    "train/image/17.png": "0f4f7e8e0619e4c7d517ac68d3789a3b6248253747717eac418bb7d32bef4de3",
    "train/image/18.png": "1bb1edd50595861743d14e1955dfa5d3c9395fb87563eca6dc81433bf9df49de",
    "train/image/19.png": "999b55633f8d7082add72082656e9532c5c3d97203b376eb317f09ba88a5a5b7",
    "train/image/20.png": "9153d14bfd15955fab576ea23281c4f23104b45dceed6e03e0b254607f50a1b2",
    "train/image/21.png": "9ad07cf4f67984f17a08aa63e6d92d395ce55f5132e6ff4fa6d95d6890ea7f97",
    "train/image/22.png": "6278609b4c42a7cb43212de0e2e2ceded758bafe0856fb56214ce658a61668e4",
    "train/image/23.png": "9ef4e9fbc838b9791af83a36918d729a0ea2e90ebc71c4a3c4554059f9379756",
    "train/image/24.png": "f0f917b9c3e9c96d16ea287aff9b05ecf4de88bc61d478e4aefcb64932fba70c",
    "train/image/25.png": "e0154737e76392e8bf94fb2c0dfa5ddad4b53aeec942a0a8cdd8ba63443e6072",
    "train/image/26.png": "d0ff11e09b0ee0c817334946e746a38ab621161d5f9c46af95c68b851f8d9a1a",
    "train/image/27.png": "eed8e8bee1db8fe7af39b5b43ecf14282c5c33eca0959726eea06f662027eacc",
    "train/image/28.png": "974df4b51e8905bdaabe61e80496cbf331f5c9aa9ddc2cb94113f58c2b7d2837",
    "train/image/29.png": "d9ae868509c610a69acbf3d69cde4f36a8e344cbbc444f93c917bf7b9f3e784f",
    "train/label/0.png": "13b67edd7607a1f284c09170c96a27d38422b0ffaf88024ea5b689acb5e1b4b0",
    "train/label/1.png": "cff60a00de2901e67165c91d7708d784e4c5bcc9d1c8c677922c905d63bbc3d1",
    "train/label/2.png": "a578af998c017f56763b81941c4dc612dde5731809b2cea0e8ebc37aecb84dbb",
    "train/label/3.png": "c8ae3b843fed02e09411a24c10850160922c331041b17c2674025f05a99b8834",
    "train/label/4.png": "a2f19c01b5d982a97923a0d29e64127a05e3f496731480ac9d9d302b5427f7ff",
    "train/label/5.png": "2dd5779118f6f4d87f88ec112f1cea20663b50acb8c748b0db1f23eda82b5118",
    "train/label/6.png": "2b0984e9f31fb41d4c5f4a754a3e080036b7321a0cbd9591a62010d20a574ce7",
    "train/label/7.png": "2ebc8c835999589bfd7d80d81f83d24e5c41138362b0faafef0f009e1ce82144",
    "train/label/8.png": "db979010ca4fbdb38c8b32d455aed0da90d598153f2a0046b63d02a6efa32b9e",
    "train/label/9.png": "8ee6c79adbb740595c4d61776e065e7164c00d52c7dd7562b5279041e7f3567b",
    "train/label/10.png": "b0156cc8186b0ee521927ac95645b406a42d27564607a6fea3a59c34add78f7c",
    "train/label/11.png": "e47b3aa0cfb3106476af1666e631d45bd16dbf2aff88260ee65d16e4134332db",
    "train/label/12.png": "85a7a899c0b72b81633ad122887ba5161d650385d7775a5b3074eb00131b3620",
    "train/label/13.png": "88549c22fd647312d6b37e17d33e90800d347d60ccb1156a8dde5e67394f9f3d",
    "train/label/14.png": "bcd775017eb4fdbdfe7ad6cc6420b2f16aa9d0576894d08370edcf564b46680a",
    "train/label/15.png": "59a854887b504ff00a5b4b93b2299bbc0bf0cbe54dea58d2b31969229b28b369",
    "train/label/16.png": "b34eb88cdc3313a6f4190f5753465df7f69d8f3c243a5c25427b1b99ecfe2499",
    "train/label/17.png": "4fa076cbeb744803d987dc46cf308dc3026408e7a5188838e30e25fe3ea67dbe",
    "train/label/18.png": "bd009dda57f204804732f592ed1d41ba18961d83c492413fe71548efa4a288d9",
    "train/label/19.png": "bf38407c55b6033c1677230228ecb100a11294aa74a7b92e5edfdc4abadcfef9",
    "train/label/20.png": "7af7296f2e892866669d4e4f9c0d4178987e6ec6e7d0751ec238d1bbe2da9c55",
    "train/label/21.png": "772c722acb2eac01769b53fa5037a3d62745e53102398bf9b2202df605cadda4",
    "train/label/22.png": "b19f5533ec24077a2395a085fe53af75dd350ef03798c4ff40ba9ebecb2ee0ad",
    "train/label/23.png": "2d8f1df5c9ee83e59eb2d709eb153b0570f12e726690f586154b01b0a88bb540",
    "train/label/24.png": "6ab02d922b5c937ecfe2a479be87a5d3e5ef950dc48da09d31f37b47d899ca9c",
    "train/label/25.png": "c5ea59aca7789dd507ac31c4a82bbd4c172f9e3544f8e040442c20d1dfa9e16d",
    "train/label/26.png": "b056fae9f358111b6c9e2494bdba645f206be581959b8d3763e97d62a65dd961",
    "train/label/27.png": "5be3823a57c82b632cead6eb09f438c6010a244dc0975f2a3e466f45d2c06840",
    "train/label/28.png": "c0b0e2a2b7aad46919d1afc980f7d5e39101fb07948ce65d9cac802d8b47682e",
    "train/label/29.png": "1e8839a97178914171defd6a97158f06fcac1fc3f0d45f2acdff9c49ab3fced9",
}

_STARE_BASE = "https://cecas.clemson.edu/~ahoover/stare/probing/"
_DUTS_BASE = "http://saliencydetection.net/duts/download/"
_ECSSD_BASE = "https://www.cse.cuhk.edu.hk/leojia/projects/hsaliency/data/ECSSD/"

SOURCES: dict[str, DatasetSource] = {
    "drive": DatasetSource(
        name="DRIVE",
        folder="DRIVE",
        homepage="https://drive.grand-challenge.org/",
        licence=(
            "DRIVE (Staal et al., IEEE TMI 2004): for research and educational use only; copying and "
            "redistribution are prohibited. Cite Staal et al. 2004 when you use it."
        ),
        login_instructions=(
            "DRIVE can only be downloaded after logging in, so course_lib cannot fetch it for you.\n"
            "  1. Create a free account and log in at https://drive.grand-challenge.org/ (Download page).\n"
            "  2. Download the archive(s) with the training and test sets and unzip them.\n"
            "  3. Arrange the files exactly like this (the zip already uses these names):\n"
            "{layout}\n"
            "  4. Check: cl.data.load('drive', split='train') should give 16 images (20 minus 4 for 'val').\n"
            "The course validates on 4 held-out training images; when the test labels (test/1st_manual)\n"
            "are present, chapter 06 also scores the official test split once, after training."
        ),
        checksum_note="not downloaded (login required)",
        layout=(
            "     {root}/training/images/21_training.tif ... 40_training.tif\n"
            "     {root}/training/1st_manual/21_manual1.gif ...\n"
            "     {root}/training/mask/21_training_mask.gif ...\n"
            "     {root}/test/images/01_test.tif ... 20_test.tif\n"
            "     {root}/test/1st_manual/01_manual1.gif ...\n"
            "     {root}/test/mask/01_test_mask.gif ..."
        ),
    ),
    "isbi2012": DatasetSource(
        name="ISBI2012",
        folder="isbi2012",
        homepage="https://github.com/zhixuhao/unet/tree/master/data/membrane",
        licence=(
            "ISBI 2012 EM segmentation challenge data (Cardona et al. 2010): free to use for non-commercial "
            "segmentation research; no redistribution grant. Cite Cardona et al., PLoS Biol 2010 and "
            "Arganda-Carreras et al., Front. Neuroanat. 2015. The PNGs come from github.com/zhixuhao/unet "
            "(its MIT licence covers the code, not the data)."
        ),
        files=tuple(
            RemoteFile(url=_ISBI_BASE + path, path=path, sha256=digest)
            for path, digest in _ISBI_SHA256.items()
        ),
        checksum_note="sha256 of every file known (verified)",
        stand_in="synthetic-membranes",
    ),
    "stare": DatasetSource(
        name="STARE",
        folder="STARE",
        homepage="https://cecas.clemson.edu/~ahoover/stare/probing/index.html",
        licence=(
            "STARE (Hoover et al., IEEE TMI 2000) is published on its authors' site with no licence stated: "
            "use it for research, do not redistribute it, and cite Hoover, Kouznetsova and Goldbaum 2000."
        ),
        files=(
            _archive(_STARE_BASE, "stare-images.tar",
                     sha256="5f7b509b6067cad4f1be84933145d783de9ec087b3eaaf4db0103dd0144dd433"),
            _archive(_STARE_BASE, "labels-ah.tar",
                     sha256="ebf2f1e17ca955f24579d9edd990e2dae79a5c82def69f0985d8e24f826ddd2f"),
            _archive(_STARE_BASE, "labels-vk.tar",
                     sha256="47474a701536b0cfdb369fdce012be36141e9f44d80387f0179446b5cb0f5576"),
        ),
        checksum_note="sha256 published by a third party (not by the authors)",
    ),
    "chase_db1": DatasetSource(
        name="CHASE_DB1",
        folder="CHASE_DB1",
        homepage="https://researchdata.kingston.ac.uk/96/",
        licence=(
            "CHASE_DB1 (Fraz et al., IEEE TBME 2012; Kingston University research data record 96) is "
            "licensed CC BY 4.0: you may share and adapt it if you give credit. Cite Fraz et al. 2012."
        ),
        files=(
            _archive("https://researchdata.kingston.ac.uk/96/1/", "CHASEDB1.zip", ".",
                     md5="d9e47c4bac125b29996fae4380a68db1"),
        ),
        checksum_note="md5 published by a third party; sha256 recorded on first use",
    ),
    "ecssd": DatasetSource(
        name="ECSSD",
        folder="ECSSD",
        homepage="https://www.cse.cuhk.edu.hk/leojia/projects/hsaliency/dataset.html",
        licence=(
            "ECSSD (Shi, Yan, Xu and Jia, IEEE TPAMI 2016) is published by CUHK for research with no licence "
            "stated: use it for research, do not redistribute it, and cite Shi et al. 2016."
        ),
        files=(
            _archive(_ECSSD_BASE, "images.zip", size=67766979,
                     sha256="7d5dce1a21c6d82e2f9617c00ad7eae2de5ded9320e8c59a01b4c731d210ea47"),
            _archive(_ECSSD_BASE, "ground_truth_mask.zip", size=1571109,
                     sha256="dc0a9f11f2adee2737d95b28f9567a0a5de33f78743447c097ceb4d42f281a31"),
        ),
        checksum_note="sha256 and sizes published by a third party (not by the authors)",
        stand_in="synthetic-salient",
    ),
    "duts": DatasetSource(
        name="DUTS",
        folder="DUTS",
        homepage="http://saliencydetection.net/duts/",
        licence=(
            "DUTS (Wang, Lu, Wang, Feng, Wang, Yin and Ruan, CVPR 2017) is published by Dalian University of "
            "Technology for research with no licence stated; its images come from ImageNet and SUN, whose "
            "terms allow non-commercial research only. Do not redistribute it, and cite Wang et al. 2017."
        ),
        files=(
            _archive(_DUTS_BASE, "DUTS-TR.zip", "."),
            _archive(_DUTS_BASE, "DUTS-TE.zip", "."),
        ),
        checksum_note="none published; sha256 recorded on first use",
        stand_in="synthetic-salient",
    ),
}
