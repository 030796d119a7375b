from advfc.data import CATEGORIES, LIVE, NON_LIVE, load_bfcl
from advfc.split import build_split, group_key, load_split


def test_committed_split_is_what_the_command_builds():
    committed = load_split()
    rebuilt = build_split(seed=committed.meta["seed"], holdout_fraction=committed.meta["holdout_fraction"])
    assert rebuilt.to_dict() == committed.to_dict()


def test_train_and_eval_are_disjoint_and_cover_everything():
    split = load_split()
    train, held = set(split.train_ids()), set(split.eval_ids())
    assert not train & held
    assert train | held == {ex.id for cat in CATEGORIES for ex in load_bfcl(cat)}
    assert not any(split.train.get(cat) for cat in NON_LIVE)
    assert all(split.train[cat] and split.eval[cat] for cat in LIVE)


def test_conversation_groups_never_straddle_the_split():
    split = load_split()
    train_groups = {group_key(i) for i in split.train_ids()}
    assert not train_groups & {group_key(i) for i in split.eval_ids()}


def test_seed_changes_the_split():
    assert build_split(seed=1).eval["live_simple"] != load_split().eval["live_simple"]


def test_data_split_writes_to_the_working_folder_never_the_package(tmp_path, monkeypatch, cli):
    from importlib import resources

    packaged = resources.files("advfc").joinpath("resources/split.json")
    before = packaged.read_bytes()
    monkeypatch.chdir(tmp_path)
    code, _, _ = cli("data", "split", "--seed", "1")
    assert code == 0 and packaged.read_bytes() == before
    assert load_split(tmp_path / "split.json").to_dict() == build_split(seed=1).to_dict()
    code, _, _ = cli("data", "split", "--seed", "2")  # its own earlier output is replaced
    assert code == 0 and load_split(tmp_path / "split.json").meta["seed"] == 2
