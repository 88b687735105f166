package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// snapshotCmd: backups. `nvactl snapshot save FILE` writes a consistent
// backup of the whole store (GET /api/v1/snapshot, cluster admin only);
// restore it into a new cluster with `nva restore --from FILE`.
func (a *app) snapshotCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Back up the store (restore with nva restore --from FILE into a new cluster)"}
	save := &cobra.Command{
		Use:   "save FILE",
		Short: "Write a consistent backup of the whole store to FILE (mode 0600)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			raw, err := a.client().do(c.Context(), http.MethodGet, "/api/v1/snapshot", nil, nil)
			if err != nil {
				return err
			}
			path := args[0]
			tmp, err := os.CreateTemp(filepath.Dir(path), ".nva-backup-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			if err := tmp.Chmod(0o600); err != nil {
				tmp.Close()
				return err
			}
			if _, err := tmp.Write(raw); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Sync(); err != nil {
				tmp.Close()
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), path); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "backup of %d bytes written to %s; restore it into a new cluster with: nva restore --from %s --data-dir DIR\n", len(raw), path, path)
			return nil
		},
	}
	cmd.AddCommand(save)
	return cmd
}
