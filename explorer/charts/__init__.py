"""Charts: pure functions frame -> alt.Chart (nothing displayed); `save_chart` exports PNG / SVG offline."""
