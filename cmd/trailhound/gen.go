package main

import "github.com/spf13/cobra"

func newGen() *cobra.Command { return &cobra.Command{Use: "gen", Hidden: true} }
