//! rust-hdl leaves whose behaviour is a [`blocks::Unit`].
//!
//! A stream leaf's registers and next-state logic live in the `blocks` crate, written once on
//! bit-packed words and run by the cycle model too. The leaf only converts its one-bit signals to
//! words around the unit's clock edge and outputs. The Verilog is printed by [`crate::rtl`].

/// Implements rust-hdl's `Logic` (and [`crate::harness::StreamBlock`]) for a stream leaf with the
/// standard ports (`clock`, `rst`, `s_data`, `s_valid`, `s_ready`, `m_data`, `m_valid`,
/// `m_ready`) whose behaviour is the [`blocks::Unit`] in its field `_u`.
#[macro_export]
macro_rules! unit_leaf {
    ($t:ty) => {
        impl Logic for $t {
            fn update(&mut self) {
                use blocks::Unit as _;
                if self.clock.pos_edge() {
                    if self.rst.val() {
                        self._u.reset();
                    } else {
                        let d = $crate::bus::read(&self.s_data);
                        self._u.edge(self.s_valid.val(), &d, self.m_ready.val());
                    }
                }
                self.s_ready.next = self._u.ready(self.m_ready.val());
                self.m_valid.next = self._u.valid();
                $crate::bus::write(&mut self.m_data, self._u.data());
            }

            fn connect(&mut self) {
                self.s_ready.connect();
                self.m_valid.connect();
                $crate::bus::connect(&mut self.m_data);
            }
        }

        $crate::stream_block!($t);
    };
}
