#!/usr/bin/env python3
"""sae past one machine, on one machine: two test hosts in network namespaces (scripts/cluster.sh),
each resolving its own name to 127.0.1.1 as a fresh Debian host does, joined by a private bridge.

- torchrun's c10d rendezvous between the hosts trains like one process;
- a real Slurm (munged, slurmctld, a slurmd per host) runs scripts/slurm/train.sbatch across
  them, a job array of scripts/slurm/sweep.sbatch shards, and a scancel that commits once;
- faults: a host's link going down stops both ranks within --dist-timeout; a worker killed under
  torchrun --max-restarts is restarted and continues the run by itself, to the same weights.

Run folders live in the cluster's export/ folder, which node2 sees read-only through a bind
mount: a rank on node2 that wrote into the run folder would fail the test. Needs root, iproute2,
torchrun and, for the Slurm tests, Slurm and MUNGE; exits 77 (skip) when none of it can run.

    tests/test_cluster.py --sae build/sae [TEST...]   (SAE_CLUSTER_KEEP=1 keeps the logs)
"""

import argparse
import atexit
import csv
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).resolve().parent.parent
CLUSTER = SOURCE / "scripts" / "cluster.sh"
TRAIN_JOB = SOURCE / "scripts" / "slurm" / "train.sbatch"
SWEEP_JOB = SOURCE / "scripts" / "slurm" / "sweep.sbatch"
SAE = None  # set from --sae
EPOCH_TOLERANCE = 1e-4  # relative, as tests/test_distributed.cpp's one-machine test
TIME_COLUMNS = {"seconds", "images_per_s"}
# torchrun 1.13 on Python 3.11 cannot parse its default --redirects 0 (README: Past one process).
TORCHRUN = ["torchrun", "--redirects", "2", "--tee", "2", "--no_python"]


def why_no_cluster():
    """Why the hosts cannot be made here, or None."""
    probe = subprocess.run([str(CLUSTER), "check"], capture_output=True, text=True)
    if probe.returncode != 0:
        return probe.stdout.strip() or probe.stderr.strip()
    if shutil.which("torchrun") is None:
        return "needs torchrun (python3-torch)"
    return None


def why_no_slurm():
    for tool in ("munged", "slurmctld", "slurmd", "srun", "sbatch"):
        if shutil.which(tool) is None:
            return f"needs Slurm and MUNGE (scripts/install-deps.sh installs them): no {tool}"
    return None


def write_idx(path, array):
    """An IDX file of uint8 `array`: MNIST's format."""
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(">" + "I" * array.ndim, *array.shape))
        f.write(array.astype(np.uint8).tobytes())


def write_data(folder, train_count, test_count):
    """Tiny MNIST-shaped data: blobs of random brightness, so that the code has something to fit."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    for split, count in (("train", train_count), ("t10k", test_count)):
        images = (rng.random((count, 28, 28)) ** 4 * 255).astype(np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, count))


def read_metrics(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def without_time(rows):
    return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in rows]


class Cluster:
    """Two hosts, node1 and node2, and optionally Slurm on them; removed by close()."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sae-cluster."))
        # Removed at exit also after a SIGTERM or Ctrl-C; after a SIGKILL, the next `up` removes
        # them (scripts/cluster.sh: remove_stale).
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        atexit.register(self.close)
        self.export = self.dir / "export"  # node1 writes; node2 reads only
        self.shared = self.dir / "shared"  # every host writes
        self.slurm = False
        self.closed = False
        subprocess.run([str(CLUSTER), "up", str(self.dir), "2"], check=True)

    def start_slurm(self):
        subprocess.run([str(CLUSTER), "slurm", str(self.dir)], check=True)
        self.slurm = True

    def command(self, host, args, env=None):
        """The command line that runs `args` on `host`, with `env` added to its environment."""
        extra = [f"{k}={v}" for k, v in (env or {}).items()]
        return [str(CLUSTER), "exec", str(self.dir), host, "env", *extra, *map(str, args)]

    def start(self, host, args, log, env=None):
        """Starts `args` on `host`, its output in `log`."""
        with open(log, "wb") as out:
            return subprocess.Popen(self.command(host, args, env), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, host, args, env=None, timeout=120):
        return subprocess.run(self.command(host, args, env), capture_output=True, text=True,
                              timeout=timeout)

    def link(self, host, state):
        subprocess.run([str(CLUSTER), "link", str(self.dir), host, state], check=True)

    def close(self):
        if self.closed:
            return
        self.closed = True
        subprocess.run([str(CLUSTER), "down", str(self.dir)], check=False)
        if os.environ.get("SAE_CLUSTER_KEEP"):
            print(f"kept {self.dir} (SAE_CLUSTER_KEEP)")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def wait_for(path, timeout, processes=()):
    """Waits until `path` exists; False after `timeout` s or once one of `processes` has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        if any(p.poll() is not None for p in processes):
            return False
        time.sleep(0.02)
    return False


def finish(process, timeout):
    """The exit code of `process` within `timeout` s; None (and the process killed) after it."""
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None


def worker_pid(out, rank):
    """The pid of the sae worker of rank `rank` that trains into `out`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (Path(argv[0].decode()).name == "sae" and str(out).encode() in argv
                and f"RANK={rank}".encode() in environ):
            return int(entry.name)
    return None


class ClusterTest(unittest.TestCase):
    """The tests share one cluster and one data folder (made once: ~1 s)."""

    cluster = None
    data = None

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()
        cls.addClassCleanup(cls.cluster.close)  # also when the rest of the set-up fails
        cls.data = cls.cluster.export / "data"
        write_data(cls.data, train_count=2000, test_count=200)
        if why_no_slurm() is None:
            cls.cluster.start_slurm()

    def train_args(self, out, epochs, *more, quiet=True):
        return [SAE, "train", "--data-dir", self.data, "--epochs", epochs, "--threads", "1",
                "--seed", "5", *(["--quiet"] if quiet else []), "--out", out, *more]

    def single_run(self, name, epochs):
        """A single-process run of the same settings on node1: what the hosts must match."""
        out = self.cluster.export / name
        if not out.exists():
            result = self.cluster.run("node1", self.train_args(out, epochs))
            self.assertEqual(result.returncode, 0, result.stderr)
        return out

    def torchrun(self, out, epochs, run_id, log_stem, extra=()):
        """torchrun on both hosts, rendezvous at node1; the two agents' processes."""
        args = [*TORCHRUN, "--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d",
                "--rdzv_endpoint", "node1:29400", "--rdzv_id", run_id, "--monitor_interval", "0.5",
                *extra, *self.train_args(out, epochs, quiet=False)]
        return [self.cluster.start(host, args, self.cluster.dir / f"{log_stem}-{host}.log")
                for host in ("node1", "node2")]

    def assert_metrics_near(self, got, want, rows):
        self.assertEqual(len(got), rows)
        for g, w in zip(got, want):
            for column in ("train_loss", "train_mse", "train_kl", "test_loss", "test_mse",
                           "test_kl", "test_mean_rho_hat"):
                self.assertAlmostEqual(float(g[column]), float(w[column]),
                                       delta=EPOCH_TOLERANCE * abs(float(w[column])),
                                       msg=f"epoch {g['epoch']} {column}")

    def log(self, stem, host):
        return (self.cluster.dir / f"{stem}-{host}.log").read_text(errors="replace")

    def test_torchrun_rendezvous_across_two_hosts_trains_like_one_process(self):
        single = self.single_run("single-2", 2)
        out = self.cluster.export / "torchrun"
        agents = self.torchrun(out, 2, "across", "across")
        for host, agent in zip(("node1", "node2"), agents):
            self.assertEqual(finish(agent, 90), 0, self.log("across", host))
        self.assert_metrics_near(read_metrics(out / "metrics.csv"),
                                 read_metrics(single / "metrics.csv"), rows=2)
        # Rank 0 on node1 reaches node2 from its bridge address, not loopback.
        self.assertIn("Gloo on eth0 (10.77.0.1)", self.log("across", "node1"))

    def test_torchrun_restarts_a_killed_worker_and_the_run_continues_by_itself(self):
        uninterrupted = self.cluster.export / "uninterrupted"
        out = self.cluster.export / "restarted"
        # 5 epochs of 20 steps: the kill lands seconds before the end, even on a busy machine.
        for agent, host in zip(self.torchrun(uninterrupted, 5, "plain", "plain"),
                               ("node1", "node2")):
            self.assertEqual(finish(agent, 90), 0, self.log("plain", host))
        agents = self.torchrun(out, 5, "restarts", "restarts", extra=["--max_restarts", "1"])
        # Once epoch 1 is committed, node2's worker dies; torchrun restarts the group.
        self.assertTrue(wait_for(out / "checkpoint.json", 60, agents), self.log("restarts", "node1"))
        pid = worker_pid(out, rank=1)
        self.assertIsNotNone(pid)
        os.kill(pid, signal.SIGKILL)
        for host, agent in zip(("node1", "node2"), agents):
            self.assertEqual(finish(agent, 90), 0, self.log("restarts", host))
        self.assertIn("torchrun restart 1: continuing", self.log("restarts", "node1"))
        # One run folder, and the weights and metrics of the uninterrupted run.
        self.assertEqual((out / "model.pt").read_bytes(), (uninterrupted / "model.pt").read_bytes())
        self.assertEqual(without_time(read_metrics(out / "metrics.csv")),
                         without_time(read_metrics(uninterrupted / "metrics.csv")))

    def test_a_host_whose_link_goes_down_stops_every_rank_within_the_timeout(self):
        out = self.cluster.export / "link-down"
        env = {"WORLD_SIZE": "2", "MASTER_ADDR": "node1", "MASTER_PORT": "29510"}
        ranks = [self.cluster.start(host, self.train_args(out, 1000, "--dist-timeout", "4"),
                                    self.cluster.dir / f"link-{host}.log", {**env, "RANK": r})
                 for r, host in enumerate(("node1", "node2"))]
        try:
            self.assertTrue(wait_for(out / "checkpoint.json", 60, ranks), self.log("link", "node1"))
            self.cluster.link("node2", "down")
            start = time.monotonic()
            codes = [finish(rank, 30) for rank in ranks]
            elapsed = time.monotonic() - start
        finally:
            self.cluster.link("node2", "up")
        for r, (host, code) in enumerate(zip(("node1", "node2"), codes)):
            self.assertEqual(code, 1, self.log("link", host))
            errors = [line for line in self.log("link", host).splitlines() if "error" in line]
            self.assertEqual(len(errors), 1, self.log("link", host))
            self.assertIn(f"rank {r} of 2: a collective failed", errors[0])
        self.assertLess(elapsed, 4 + 8)  # the timeout, and the time to exit on a busy machine
        # The last commit is intact: it resumes, in one process (2 hosts -> 1).
        result = self.cluster.run("node1", [SAE, "train", "--resume", out, "--epochs", "2",
                                            "--threads", "1", "--quiet"])
        self.assertEqual(result.returncode, 0, result.stderr)


    def sbatch(self, name, job, args, *options, wait=True):
        """Submits `job` from node1, its output in shared/NAME-*.out; with `wait`, returns when it
        ends. The job id."""
        out = self.cluster.shared / f"{name}-%a.out"
        result = self.cluster.run(
            "node1", ["sbatch", "--parsable", f"--output={out}", "--chdir", self.cluster.shared,
                      *(["--wait"] if wait else []), *options, job, *args],
            env={"SAE": SAE}, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr + self.job_output(name))
        return result.stdout.strip()

    def job_output(self, name):
        return "".join(p.read_text() for p in sorted(self.cluster.shared.glob(f"{name}-*.out")))

    @unittest.skipIf(why_no_slurm(), why_no_slurm())
    def test_srun_trains_across_two_hosts_like_one_process_and_resumes_on_one(self):
        single = self.single_run("single-2", 2)
        out = self.cluster.export / "srun"
        self.sbatch("srun", TRAIN_JOB, self.train_args(out, 1)[2:])
        # Resumed in one process, the second epoch matches too (2 hosts -> 1).
        result = self.cluster.run("node1", [SAE, "train", "--resume", out, "--epochs", "2",
                                            "--threads", "1", "--quiet"])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assert_metrics_near(read_metrics(out / "metrics.csv"),
                                 read_metrics(single / "metrics.csv"), rows=2)

    @unittest.skipIf(why_no_slurm(), why_no_slurm())
    def test_an_array_of_sweep_shards_then_the_plain_sweep_writes_the_sequential_table(self):
        grid = ["--beta", "0,0.005", "--rho", "0.01,0.05", "--epochs", "1", "--data-dir",
                self.data, "--threads", "1", "--quiet"]
        sharded = self.cluster.shared / "sweep"
        self.sbatch("sweep", SWEEP_JOB, [*grid, "--out", sharded], "--array=0-3")
        for folder in (sharded, self.cluster.shared / "sequential"):
            result = self.cluster.run("node1", [SAE, "sweep", *grid, "--out", folder])
            self.assertEqual(result.returncode, 0, result.stderr)
        tables = [without_time(read_metrics(f / "sweep.csv"))
                  for f in (sharded, self.cluster.shared / "sequential")]
        self.assertEqual(len(tables[0]), 4)
        self.assertEqual(tables[0], tables[1])

    @unittest.skipIf(why_no_slurm(), why_no_slurm())
    def test_scancel_ends_every_rank_with_one_checkpoint_which_resumes(self):
        out = self.cluster.export / "cancelled"
        job = self.sbatch("cancel", TRAIN_JOB, self.train_args(out, 1000, quiet=False)[2:],
                          wait=False)
        self.assertTrue(wait_for(out / "checkpoint.json", 60), self.job_output("cancel"))
        result = self.cluster.run("node1", ["scancel", job])
        self.assertEqual(result.returncode, 0, result.stderr)
        # Slurm sends SIGTERM, then SIGKILL after KillWait (10 s): gone before it, the ranks
        # stopped on SIGTERM, after a batch.
        start = time.monotonic()
        while self.cluster.run("node1", ["squeue", "-h", "-j", job]).stdout.strip():
            self.assertLess(time.monotonic() - start, 10, "the job outlived KillWait")
            time.sleep(0.2)
        log = self.job_output("cancel")
        self.assertEqual(log.count("checkpoint saved"), 1, log)
        result = self.cluster.run("node1", [SAE, "train", "--resume", out, "--epochs", "2",
                                            "--threads", "1", "--quiet"])
        self.assertEqual(result.returncode, 0, result.stderr)


def main():
    global SAE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sae", required=True, help="the sae binary")
    parser.add_argument("rest", nargs="*", metavar="TEST", help="test names (default: all)")
    args = parser.parse_args()
    rest = args.rest
    SAE = str(Path(args.sae).resolve())
    reason = why_no_cluster()
    if reason:
        print(f"SKIP: the cluster tests need their test hosts: {reason}")
        return 77
    if why_no_slurm():
        print(f"SKIP: the Slurm tests: {why_no_slurm()}")
    loader = unittest.TestLoader()
    suite = (loader.loadTestsFromNames([f"ClusterTest.{name}" for name in rest], sys.modules[__name__])
             if rest else loader.loadTestsFromTestCase(ClusterTest))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
