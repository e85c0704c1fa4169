#!/usr/bin/env python3
"""nextpnr-ice40's logic cells per node and per design, for the iCE40 packing model (issue 30).

For each build directory given (an `xnorflow compile --arch ice40` output): every pipeline stage's
module (`stages_k`, and an add's bypass instances `stages_k_bj`, counted on the add's row) is
synthesized alone with Yosys `synth_ice40` and packed by `nextpnr-ice40 --pack-only`; the LUT4,
carry and flip-flop counts of Yosys' netlist and nextpnr's ICESTORM_LC count are written per node.
The whole accelerator (its AXI top, flattened) is packed the same way, for the design's total
(`node` = `total`): packing is what decides the cell count, placement and routing add no cells.

With `board:DESIGN=BUILD_DIR`, the board top that `xnorflow bitstream` wrote into BUILD_DIR/board
(board.v) instead: the board top with its accelerator, less the accelerator alone, packed for the
UP5K, as the row `DESIGN,board` (the UART, quantizer table, packer, frame FIFO and any SPRAM
loader), and the whole board as `DESIGN,board-total`.

Usage: scripts/ice40_lc.py OUT_CSV [board:]DESIGN=BUILD_DIR ...   (needs yosys and nextpnr-ice40)
"""
import json
import os
import re
import subprocess
import sys
import tempfile


def counts(netlist, top):
    """Yosys cell counts of a synth_ice40 JSON netlist: (LUT4, carry, DFF)."""
    cells = netlist["modules"][top]["cells"].values()
    kinds = [c["type"] for c in cells]
    return (
        sum(k == "SB_LUT4" for k in kinds),
        sum(k == "SB_CARRY" for k in kinds),
        sum(k.startswith("SB_DFF") for k in kinds),
    )


def pack(design_v, top, device, tmp, spram):
    """Yosys then nextpnr --pack-only on module `top` of `design_v`: (LUT4, carry, DFF, LC)."""
    # Memory files are read relative to the working directory.
    os.chdir(os.path.dirname(os.path.abspath(design_v)))
    net = os.path.join(tmp, top + ".json")
    flags = " -spram" if spram else ""
    subprocess.run(
        ["yosys", "-q", "-p", f"read_verilog {design_v}; synth_ice40{flags} -top {top} -json {net}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    with open(net) as f:
        lut4, carry, dff = counts(json.load(f), top)
    # nextpnr packs for any package; the largest of each device takes every stage's ports.
    package = {"hx8k": "ct256", "up5k": "sg48", "hx1k": "tq144"}.get(device, "ct256")
    log = subprocess.run(
        ["nextpnr-ice40", f"--{device}", "--package", package, "--pack-only", "--json", net,
         "--pcf-allow-unconstrained"],
        capture_output=True,
        text=True,
    )
    m = re.search(r"ICESTORM_LC:\s+(\d+)/", log.stderr + log.stdout)
    if not m:
        raise SystemExit(f"nextpnr packed {top} without a cell count:\n{log.stderr[-2000:]}")
    return lut4, carry, dff, int(m.group(1))


def main():
    out, designs = os.path.abspath(sys.argv[1]), sys.argv[2:]
    rows = ["design,node,lut4,carry,dff,lc"]
    for spec in designs:
        name, build = spec.split("=", 1)
        with open(os.path.join(build, "build.json")) as f:
            top = json.load(f)["top"]
        with open(os.path.join(build, "graph.json")) as f:
            graph = json.load(f)
        spram = any(
            ((n["kind"].get("hw") or {}).get("wmem") or {}).get("style") == "spram" for n in graph["nodes"]
        )
        if name.startswith("board:"):
            name = name[len("board:"):]
            board_v = os.path.join(build, "board", "board.v")
            with tempfile.TemporaryDirectory() as tmp:
                whole = pack(board_v, top + "_board", "up5k", tmp, spram)
                accel = pack(board_v, top, "up5k", tmp, spram)
            rows.append(f"{name},board," + ",".join(str(a - b) for a, b in zip(whole, accel)))
            rows.append(f"{name},board-total," + ",".join(map(str, whole)))
            print("\n".join(rows[-2:]), flush=True)
            continue
        nodes = [n["name"] for n in graph["nodes"]]
        arch = graph.get("arch") or {}
        device = arch.get("ice40", "hx8k") if isinstance(arch, dict) else "hx8k"
        # The SPRAM blocks exist only on the UltraPlus.
        device = "up5k" if device in ("up5k", "u4k") else "hx8k"
        design_v = os.path.join(build, "design.v")
        with open(design_v) as f:
            verilog = f.read()
        stages = {}
        for mod, k, byp in re.findall(r"^\s*(\S+) stages_(\d+)(_b\d+)? \(", verilog, re.M):
            stages.setdefault(int(k), []).append(mod)
        with tempfile.TemporaryDirectory() as tmp:
            cache = {}
            for k in sorted(stages):
                total = [0, 0, 0, 0]
                for mod in stages[k]:
                    if mod not in cache:
                        cache[mod] = pack(design_v, mod, device, tmp, spram)
                    total = [a + b for a, b in zip(total, cache[mod])]
                rows.append(f"{name},{nodes[k]}," + ",".join(map(str, total)))
                print(rows[-1], flush=True)
            whole = pack(design_v, top, device, tmp, spram)
            rows.append(f"{name},total," + ",".join(map(str, whole)))
            print(rows[-1], flush=True)
    with open(out, "w") as f:
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
